// The demo end to end in Debian's Chromium (Playwright, no browser download) over the Vite dev server of demo/, as a
// new user meets it: a load that fails, uploads that are no training data, settings refused before anything runs, a
// learning rate that diverges, then the embedded model fine-tuned 12 steps on the built-in sample, stopped and resumed
// on the way (double clicks included, and a reload that resumes the run from storage with no weight request): the
// loss falls, the held-out perplexity drops, generation changes (before and after on the same prompt); valid exports,
// and the page at phone width. Screenshots of each stage go to test-results/demo/ (not committed).
// `npm run test:e2e` (about 8 minutes on SwiftShader; .ci/run runs it after `npm test`).
import { mkdirSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, CHROMIUM_WEBGPU_ARGS } from '../../scripts/chromium.mjs';

const SHOTS = 'test-results/demo';
let server: ViteDevServer;
let browser: Browser;
let page: Page;
const weightRequests: string[] = [];

type DemoState = {
  pplBefore: number; pplAfter: number; stage: string; error: string; messages: string[]; busy: string | null; software: boolean;
  losses: { step: number; loss: number }[]; prompt: string; before: string; after: string; loaded: { fromCache: boolean } | null;
  summary: { runId: string; stopped: string; step: number; steps: number; message?: string } | null;
  timeline: { t: number; what: string }[];
};

/** Where a task's time went, in seconds since it began (for the log: SwiftShader's cost moves with every change). */
async function timeline(task: string): Promise<string> {
  const all = (await demo()).timeline;
  const begin = all.map((e) => e.what).lastIndexOf(`${task} begins`);
  const events = all.slice(begin);
  return events.map((e) => `${e.what} ${((e.t - events[0].t) / 1000).toFixed(1)}`).join(', ');
}
const demo = () => page.evaluate(() => (window as unknown as { __demo: DemoState }).__demo);

/** Waits until no task runs and `stage` is reached (or an error shows), then expects no error. */
async function until(stage: string, timeout: number, expectError = false): Promise<DemoState> {
  await page.waitForFunction((s) => {
    const d = (window as unknown as { __demo?: DemoState }).__demo;
    return d && !d.busy && (d.stage === s || d.error);
  }, stage, { timeout, polling: 250 }).catch(async (e) => {
    // What the page shows and did, for the log: a timeout alone says nothing.
    await page.screenshot({ path: `${SHOTS}/timeout-${stage}.png`, fullPage: true });
    const d = await demo();
    console.log(`waiting for '${stage}': stage '${d.stage}', busy ${d.busy}, error '${d.error}', messages ${JSON.stringify(d.messages.slice(-3))}; ${await timeline(d.busy ?? 'train')}`);
    throw e;
  });
  const d = await demo();
  if (!expectError) expect(d.error).toBe('');
  expect(d.stage).toBe(stage);
  return d;
}

/** Waits for a task to end with an error shown; returns it. */
async function failed(timeout: number): Promise<string> {
  await page.waitForFunction(() => {
    const d = (window as unknown as { __demo?: DemoState }).__demo;
    return d && !d.busy && d.error;
  }, null, { timeout, polling: 250 });
  return (await demo()).error;
}

/** Dismisses every message the page shows, as a person clicking each ×. */
async function dismissAll(): Promise<void> {
  while ((await page.locator('.banner button').count()) > 0) await page.locator('.banner button').first().click();
  expect((await demo()).error).toBe('');
}

async function downloaded(button: string): Promise<Record<string, Uint8Array>> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  const stream = await download.createReadStream();
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return unzipSync(new Uint8Array(Buffer.concat(chunks)));
}

function safetensorsHeader(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  delete header.__metadata__;
  const end = Math.max(...Object.values(header as Record<string, { data_offsets: number[] }>).map((t) => t.data_offsets[1]));
  expect(8 + n + end).toBe(bytes.byteLength);
  return header;
}

/** The sample cut to its first 60 days, as a person might: the held-out tenth is then a few forward windows. */
async function shortSample(): Promise<void> {
  await page.click('#sample');
  await page.$eval('#data', (el) => ((el as HTMLTextAreaElement).value = (el as HTMLTextAreaElement).value.split(/\n(?=Day 61\.)/)[0]));
  await page.dispatchEvent('#data', 'input');
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await createServer({ configFile: 'vite.config.ts', server: { port: 0, host: '127.0.0.1' }, logLevel: 'error' });
  await server.listen();
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_WEBGPU_ARGS, headless: true });
  page = await browser.newPage({ viewport: { width: 1280, height: 1800 } });
  page.on('request', (r) => r.url().endsWith('.safetensors') && weightRequests.push(r.url()));
  await page.goto(server.resolvedUrls!.local[0]);
  await until('ready', 60_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the demo page', () => {
  it('names the adapter and starts small on a software one; a failed load leaves no model shown as loaded', async () => {
    const d = await demo();
    expect(d.software).toBe(true);
    expect(await page.locator('#gpu-info').innerText()).toMatch(/swiftshader.*software adapter/i);
    expect(await page.inputValue('#steps')).toBe('20');
    expect(await page.isChecked('#icq')).toBe(false); // ICQ's search is slow on a CPU WebGPU
    await page.screenshot({ path: `${SHOTS}/0-ready.png`, fullPage: true });

    await page.selectOption('#model', 'custom');
    await page.fill('#custom', 'http://127.0.0.1:9/no-model');
    await page.click('#load');
    const error = await failed(60_000);
    expect(error).toMatch(/could not be downloaded/);
    expect((await demo()).stage).toBe('load-failed');
    expect(await page.locator('#msg-model').innerText()).toContain(error); // beside its section
    expect(await page.locator('#model-info').innerText()).toBe('No model is loaded.');
    expect(await page.isDisabled('#train')).toBe(true);
    expect(await page.isDisabled('#generate')).toBe(true);
    await dismissAll();
    await page.selectOption('#model', 'embedded');
  }, 120_000);

  it('loads the embedded model and writes a sample before any training', async () => {
    await page.fill('#gen-tokens', '12');
    await page.click('#load');
    const d = await until('loaded', 300_000);
    expect(weightRequests).toHaveLength(1);
    expect(d.before.length).toBeGreaterThan(0);
    expect(await page.locator('#gen-before .prompt').innerText()).toBe('Day 12.');
    expect(await page.locator('#model-info').innerText()).toMatch(/^qlora-web-demo-5m: 6 layers/);
    await page.screenshot({ path: `${SHOTS}/1-loaded.png`, fullPage: true });
  }, 360_000);

  it('refuses what is no training data, and settings out of range, before anything runs, in words beside their section', async () => {
    await page.setInputFiles('#data-file', { name: 'bad.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0x3e, 0, 1, 0]) });
    await page.waitForFunction(() => (window as unknown as { __demo: DemoState }).__demo.error !== '');
    expect(await page.locator('#msg-data').innerText()).toMatch(/bad\.bin \(14 bytes\) cannot be used: it holds NUL bytes/);
    expect(await page.inputValue('#data')).toBe('');
    await dismissAll();

    await page.setInputFiles('#data-file', { name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"instruction": "Say hi", "output": "Hi"}\n{"instruction": "oops"\n') });
    await page.waitForFunction(() => (document.getElementById('data') as HTMLTextAreaElement).value.length > 0);
    expect(await page.inputValue('#format')).toBe('alpaca');
    expect(await page.locator('#data-info').innerText()).toBe('bad.jsonl: 65 bytes');
    await page.click('#train');
    expect(await failed(60_000)).toMatch(/^The data has a problem: bad\.jsonl line 2/);
    expect(await page.locator('#msg-train').innerText()).toMatch(/bad\.jsonl/);
    expect(await page.isHidden('#chart-wrap')).toBe(true);
    await dismissAll();

    await shortSample();
    for (const [steps, message] of [['', 'Steps is empty: enter a whole number from 1 to 100000.'], ['0', 'Steps must be a whole number from 1 to 100000 (it is 0).'], ['2.5', 'Steps must be a whole number from 1 to 100000 (it is 2.5).']]) {
      await page.fill('#steps', steps);
      await page.click('#train');
      const d = await demo();
      expect([d.error, d.busy]).toEqual([message, null]);
      expect(await page.isHidden('#eval-bar')).toBe(true);
      await dismissAll();
    }
    await page.fill('#steps', '20');
    await page.fill('#seqlen', '4');
    await page.click('#train');
    expect((await demo()).error).toBe('Tokens per row must be a whole number from 8 to 1024 (it is 4).');
    await dismissAll();
    await page.fill('#seqlen', '24');
  }, 180_000);

  it('a learning rate of 1e9 is stopped as diverged, in words, with no broken adapter left to export', async () => {
    await page.fill('#lr', '1e9');
    await page.fill('#steps', '8');
    await page.fill('#batch', '1');
    await page.fill('#seqlen', '24');
    await page.click('#train');
    const error = await failed(600_000);
    const d = await demo();
    expect(d.stage).toBe('diverged');
    expect(error).toMatch(/learning rate is probably too high/);
    expect(d.summary!.stopped).toBe('diverged');
    expect(d.summary!.step).toBeLessThan(8);
    expect(await page.locator('#data-info').innerText()).toMatch(/The last tenth \(\d+ characters\) is held out/);
    if (d.summary!.step === 0) expect(await page.isDisabled('#export-method')).toBe(true);
    await page.screenshot({ path: `${SHOTS}/2-diverged.png`, fullPage: true });
    await dismissAll();
  }, 660_000);

  it('fine-tunes 12 steps, stopped and resumed on the way (a double click; after a reload, from storage): the loss falls, the held-out perplexity drops, generation changes on the same prompt', async () => {
    await page.fill('#lr', '0.01');
    await page.fill('#steps', '12');
    await page.click('#train');
    await page.waitForFunction(() => (window as unknown as { __demo: DemoState }).__demo.losses.length >= 1 && (window as unknown as { __demo: DemoState }).__demo.busy === 'train', null, { timeout: 300_000, polling: 100 });
    // Leaving now would lose work: the page asks first. Every control but Stop is locked.
    expect(await page.evaluate(() => {
      const e = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(e);
      return e.defaultPrevented;
    })).toBe(true);
    for (const id of ['#method', '#rank', '#steps', '#load', '#export-peft', '#data', '#generate']) expect(await page.isDisabled(id), id).toBe(true);
    await page.click('#stop-train');
    let d = await until('stopped', 300_000);
    const first = d.summary!.step;
    expect(first).toBeLessThan(12);
    expect(d.messages.at(-1)).toBe(`Stopped after step ${first} of 12 (the steps already on the GPU finish first). The run is saved: Resume continues it, also after a reload.`);
    expect(await page.locator('#txt-train').innerText()).toBe(`stopped after step ${first} of 12`);

    await page.dblclick('#resume'); // the second click finds the button disabled
    await page.waitForFunction(() => (window as unknown as { __demo: DemoState }).__demo.busy === 'resume', null, { timeout: 10_000, polling: 50 });
    await page.waitForTimeout(500);
    expect((await demo()).error).toBe('');
    expect(await page.isEnabled('#stop-train')).toBe(true);
    for (const id of ['#load', '#train', '#method', '#generate']) expect(await page.isDisabled(id), id).toBe(true);
    await page.waitForFunction((at) => (window as unknown as { __demo: DemoState }).__demo.losses.some((l) => l.step > at), first, { timeout: 300_000, polling: 100 });
    await page.click('#stop-train');
    d = await until('stopped', 300_000);
    const runId = d.summary!.runId;
    expect(d.summary!.step).toBeGreaterThan(first);
    expect(d.summary!.step).toBeLessThan(12);
    await page.screenshot({ path: `${SHOTS}/3-stopped.png`, fullPage: true });

    // A reload (the run is stopped, so nothing asks), the model from storage, the run resumed from the table.
    weightRequests.length = 0;
    await page.reload();
    await until('ready', 60_000);
    const row = page.locator('#cached tr', { hasText: runId });
    expect(await row.innerText()).toMatch(new RegExp(`${runId} · QLoRA · step \\d+ of 12`));
    expect(await page.locator('#cached').innerText()).toMatch(/qlora-web-demo-5m · nf4 G64.*model/);
    expect(await row.locator('button.use').isDisabled()).toBe(true); // no model loaded yet
    await page.uncheck('#auto-sample');
    await page.fill('#gen-tokens', '12');
    await page.click('#load');
    d = await until('loaded', 120_000);
    expect(d.loaded!.fromCache).toBe(true);
    expect(weightRequests).toEqual([]);
    await shortSample(); // the held-out text to measure, as before the reload
    await row.locator('button.use').dblclick();
    d = await until('trained', 900_000);
    console.log(`the resumed run's timeline (s): ${await timeline('resume')}`);
    await page.screenshot({ path: `${SHOTS}/4-trained.png`, fullPage: true });
    expect(d.summary).toMatchObject({ runId, stopped: 'completed', step: 12, steps: 12 });
    expect(d.losses.map((l) => l.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1)); // the earlier curve kept
    const mean = (xs: { loss: number }[]) => xs.reduce((a, l) => a + l.loss, 0) / xs.length;
    expect(mean(d.losses.slice(-4))).toBeLessThan(mean(d.losses.slice(0, 4)) - 0.3);
    expect(d.after).not.toBe(d.before);
    expect(d.pplAfter).toBeLessThan(d.pplBefore);
    expect(await page.locator('#gen-before .prompt').innerText()).toBe(d.prompt);
    expect(await page.locator('#gen-after .prompt').innerText()).toBe(d.prompt);
    expect(await page.locator('#chart-text').innerText()).toMatch(/at step 12 of 12\. Validation loss/);
    expect(await page.locator('#txt-train').innerText()).toBe('done: 12 / 12 steps');
    expect(await page.locator('#cached tr', { hasText: runId }).innerText()).toMatch(/step 12 of 12 \(finished\)/);
  }, 1_500_000);

  it('the exports download valid files: a PEFT adapter naming its base, and the method adapter with its optimizer state', async () => {
    const peft = await downloaded('#export-peft');
    const config = JSON.parse(new TextDecoder().decode(peft['adapter_config.json']));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 8, base_model_name_or_path: 'qlora-web-demo-5m' });
    const tensors = safetensorsHeader(peft['adapter_model.safetensors']);
    expect(Object.keys(tensors).length).toBe(6 * 7 * 2);
    const method = await downloaded('#export-method');
    expect(Object.keys(method)).toContain('optimizer.safetensors');
    safetensorsHeader(method['optimizer.safetensors']);
    await page.screenshot({ path: `${SHOTS}/5-exported.png`, fullPage: true });
  }, 120_000);

  it('fits a phone: nothing wider than 390 px, progress bars visible', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const bar of await page.locator('progress').all()) {
      if (await bar.isVisible()) expect((await bar.boundingBox())!.width).toBeGreaterThan(100);
    }
    const box = await page.locator('#model').boundingBox();
    const card = await page.locator('#model-section').boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(card!.x + card!.width);
    await page.screenshot({ path: `${SHOTS}/6-phone.png`, fullPage: true });
  }, 60_000);
});
