// createFinetuner end to end on the tiny 'gqa' fixture with a character tokenizer: in Chromium through a real module
// Web Worker (comlink), in Node in-thread over fake-indexeddb. Load (cold, then warm from the cache with no download),
// train with progress, generate (streamed), evaluate, export and import adapters, typed errors across the boundary,
// abort then resume() from IndexedDB, and a GPU device destroyed mid-training recovered from the last checkpoint —
// each resumed loss curve equal to the uninterrupted run's, bit for bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFinetuner, DatasetError, FinetunerError, SourceError, type Finetuner, type Progress, type TrainRequest } from '../../src';
import { fixtureBlob } from '../helpers/fixture-file';
import { ensureIndexedDb } from '../helpers/indexeddb';
import { tinyTokenizerFiles } from '../helpers/tiny-tokenizer';

const inBrowser = typeof window !== 'undefined';
const TEXT = Array.from({ length: 12 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog, again and again.`).join('\n');
const QUANT = { codebook: 'int', bits: 4, groupSize: 32 } as const;
const TRAIN: TrainRequest = { data: { text: TEXT }, method: 'qlora', rank: 4, alpha: 8, steps: 6, batchSize: 2, seqLen: 24, lr: 2e-2, schedule: 'linear', warmupSteps: 1, seed: 3, dropout: 0.1 };

async function modelFiles(): Promise<Record<string, Blob>> {
  const files: Record<string, Blob> = tinyTokenizerFiles();
  for (const name of ['config.json', 'generation_config.json', 'model.safetensors']) files[name] = await fixtureBlob(`test/fixtures/llama/gqa/${name}`);
  // A Blob, not Node's lazily-read file: it crosses a worker boundary and outlives the test's reads.
  for (const [k, v] of Object.entries(files)) files[k] = new Blob([await v.arrayBuffer()]);
  return files;
}

describe('createFinetuner', () => {
  let ft: Finetuner;
  let files: Record<string, Blob>;
  const database = `qlora-web-finetuner-${Date.now()}`;

  beforeAll(async () => {
    await ensureIndexedDb();
    files = await modelFiles();
    ft = await createFinetuner({ database });
  });
  afterAll(() => ft?.dispose());

  it(`runs ${inBrowser ? 'in a Web Worker' : 'in-thread (Node)'}; load is cold, then warm from IndexedDB`, async () => {
    expect(ft.inWorker).toBe(inBrowser);
    await expect(ft.train(TRAIN)).rejects.toSatisfy((e: Error) => e instanceof FinetunerError && /call load\(\) first/.test(e.message));
    const phases = new Set<string>();
    const cold = await ft.load({ model: files, quant: QUANT }, (p) => phases.add(p.phase));
    expect(cold.fromCache).toBe(false);
    expect([...phases].sort()).toEqual(['cache', 'download', 'quantize']);
    expect(cold).toMatchObject({ layers: 2, hiddenSize: 64, vocabSize: 256, hasTokenizer: true, quant: QUANT, embedding: 'f32', matmul: { kind: 'f32' } });
    const warm = await ft.load({ model: files, quant: QUANT });
    expect(warm.fromCache).toBe(true);
    expect(warm.key).toBe(cold.key);
    const cached = await ft.listCached();
    expect(cached.map((c) => [c.key, c.kind])).toEqual([[cold.key, 'model']]);
  });

  it('trains with progress, generates (streamed), evaluates, exports and imports adapters', async () => {
    const progress: Progress[] = [];
    const summary = await ft.train({ ...TRAIN, checkpointEvery: 0, runId: 'plain' }, (p) => progress.push(p));
    expect(summary).toMatchObject({ stopped: 'completed', step: 6, steps: 6, recoveries: [] });
    expect(summary.losses.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(summary.losses.every((l) => Number.isFinite(l.loss))).toBe(true);
    const last = progress.filter((p) => p.phase === 'train').at(-1)!;
    expect(last).toMatchObject({ loaded: 6, total: 6, step: 6 });
    expect(last.etaSeconds).toBe(0);

    const pieces: string[] = [];
    const text = await ft.generate('Line 3: the', { maxTokens: 12 }, (t) => pieces.push(t));
    expect(pieces.join('')).toBe(text);
    const { perplexity, tokens } = await ft.evaluate(TEXT.slice(0, 200), { window: 64 });
    expect(Number.isFinite(perplexity) && perplexity > 1).toBe(true);
    expect(tokens).toBeGreaterThan(100);

    const exported = await ft.exportAdapter({ optimizer: true });
    expect(Object.keys(exported).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'qlora_web.json'].filter((n) => n in exported).sort());
    expect(exported['adapter_model.safetensors']).toBeInstanceOf(ArrayBuffer);
    await ft.load({ model: files, quant: QUANT });
    expect(await ft.importAdapter(exported)).toEqual({ method: 'qlora', trainedSteps: 6 });
    expect(await ft.generate('Line 3: the', { maxTokens: 12 })).toBe(text);
  });

  it('generates every token asked for, refuses 0, compares with the bare base, names the base in exports, validates on given data', async () => {
    await ft.load({ model: files, quant: QUANT });
    const base = await ft.generate('Line 3: the', { maxTokens: 8 });
    const summary = await ft.train({ ...TRAIN, steps: 4, runId: 'gen', validation: { text: TEXT.slice(-300) }, evalEvery: 2 });
    expect(summary.evals.map((e) => e.step)).toEqual([2, 4]);
    expect(summary.method).toBe('qlora');
    const eight = await ft.generate('Line 3: the', { maxTokens: 8 });
    const tokens = (text: string) => text.replace(/<unk>/g, '?').length; // one character a token; <unk> decodes as itself
    expect(tokens(eight)).toBe(8);
    const one = await ft.generate('Line 3: the', { maxTokens: 1 });
    expect(tokens(one)).toBe(1);
    expect(eight.startsWith(one)).toBe(true);
    expect(await ft.generate('Line 3: the', { maxTokens: 8, adapters: false })).toBe(base);
    const bare = await ft.evaluate(TEXT.slice(0, 200), { window: 64, adapters: false });
    const tuned = await ft.evaluate(TEXT.slice(0, 200), { window: 64 });
    expect(tuned.loss).toBeLessThan(bare.loss);
    for (const maxTokens of [0, -1, 1.5, Number.NaN]) {
      await expect(ft.generate('Line', { maxTokens })).rejects.toSatisfy((e: Error) => e instanceof FinetunerError && /maxTokens must be a whole number ≥ 1/.test(e.message));
    }
    const config = JSON.parse(new TextDecoder().decode((await ft.exportAdapter())['adapter_config.json']));
    expect(config.base_model_name_or_path).toBe(null); // local files whose config.json names no model
    // A finished run is kept: resume() attaches its adapters (as after a page reload), with nothing left to train.
    await ft.load({ model: files, quant: QUANT });
    expect(await ft.resume('gen')).toMatchObject({ stopped: 'completed', step: 4, steps: 4, method: 'qlora' });
    expect(await ft.generate('Line 3: the', { maxTokens: 8 })).toBe(eight);
  });

  it('a run that goes non-finite ends as diverged, in words, with the adapters of the last good step kept', async () => {
    await ft.load({ model: files, quant: QUANT });
    const progress: Progress[] = [];
    // lr 1e30: step 1 is finite, step 2 overflows (see the trainer's tests).
    const run = await ft.train({ ...TRAIN, lr: 1e30, schedule: 'constant', warmupSteps: 0, maxGradNorm: 0, dropout: 0, runId: 'blown' }, (p) => progress.push(p));
    expect(run).toMatchObject({ stopped: 'diverged', step: 1 });
    expect(run.message).toMatch(/NaN or infinite.*learning rate is probably too high.*after step 1/);
    expect(run.losses.map((l) => l.step)).toEqual([1]);
    expect((await ft.listCached()).some((c) => c.key === 'blown' && c.kind === 'checkpoint')).toBe(true);
  });

  it('errors keep their class and fields across the boundary', async () => {
    const bad = await ft.train({ ...TRAIN, data: { tokens: '{"input_ids": [1, 2, "x"]}' } }).catch((e) => e);
    expect(bad).toBeInstanceOf(DatasetError);
    expect([bad.name, bad.source, bad.field]).toEqual(['DatasetError', 'rows line 1', 'input_ids[2]']);
    await expect(ft.load({ model: 'not a model id' })).rejects.toBeInstanceOf(FinetunerError);
    const missing = await ft.load({ model: 'http://127.0.0.1:9/none', cache: false }).catch((e) => e);
    expect(missing).toBeInstanceOf(SourceError);
    expect(missing.url).toBe('http://127.0.0.1:9/none/config.json');
  });

  it('abort saves a checkpoint; resume() continues it to the uninterrupted loss curve, bit for bit', async () => {
    await ft.load({ model: files, quant: QUANT });
    const whole = await ft.train({ ...TRAIN, runId: 'whole', checkpointEvery: 0 });
    let aborted = false;
    const first = await ft.train({ ...TRAIN, runId: 'r1', checkpointEvery: 2 }, (p) => {
      if (p.phase === 'train' && (p.step ?? 0) >= 3 && !aborted) {
        aborted = true;
        void ft.abort();
      }
    });
    expect(first.stopped).toBe('aborted');
    expect(first.step).toBeLessThan(6);
    expect((await ft.listCached()).some((c) => c.key === 'r1' && c.kind === 'checkpoint')).toBe(true);
    await ft.load({ model: files, quant: QUANT }); // as after a reload: nothing of the run in memory but IndexedDB
    const second = await ft.resume('r1');
    expect(second).toMatchObject({ stopped: 'completed', step: 6 });
    const curve = [...first.losses.filter((l) => l.step <= first.step), ...second.losses];
    expect(curve).toEqual(whole.losses);
    await expect(ft.resume('no-such-run')).rejects.toThrow(/no checkpoint of run 'no-such-run'/);
    await ft.deleteCached('r1', 'checkpoint');
    expect((await ft.listCached()).some((c) => c.key === 'r1')).toBe(false);
  });

  it('a GPU device destroyed mid-training: a new device, the model from the cache, the run continued from its checkpoint', async () => {
    await ft.load({ model: files, quant: QUANT });
    const whole = await ft.train({ ...TRAIN, runId: 'whole', checkpointEvery: 0 });
    let lost = false;
    const messages: string[] = [];
    const run = await ft.train({ ...TRAIN, runId: 'lost', checkpointEvery: 2 }, (p) => {
      if (p.message) messages.push(p.message);
      if (p.phase === 'train' && p.step === 3 && !lost) {
        lost = true;
        void ft.simulateDeviceLoss();
      }
    });
    expect(run.stopped).toBe('completed');
    expect(run.recoveries).toHaveLength(1);
    expect(run.recoveries[0].fromStep).toBe(2);
    expect(messages.some((m) => /device was lost.*resumed from the checkpoint at step 2/.test(m))).toBe(true);
    expect(run.losses).toEqual(whole.losses);
    // The engine goes on working on the new device.
    expect((await ft.generate('Line 1', { maxTokens: 4 })).length).toBeGreaterThan(0);
  });
});
