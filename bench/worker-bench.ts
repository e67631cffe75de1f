// In a page driven by scripts/bench-worker-chromium.mjs: a 135M-parameter LLaMA shape (seeded random
// weights served by the script at /model) loaded cold (download + quantize + cache) and warm (IndexedDB) through
// createFinetuner in a worker, and the cache's bytes; then main-thread long tasks (> 50 ms, PerformanceObserver) while
// the worker fine-tunes the demo's embedded model (/demo-model) on text, and while the same engine does it in the
// page's thread, for contrast. (Training the 135M shape on a CPU WebGPU takes minutes a step; the long tasks are the
// main thread's, whatever the model.)
import { createFinetuner, type Finetuner, type TrainRequest } from '../src';

const out = document.getElementById('out')!;
const w = window as unknown as { __benchReport?: unknown; __benchError?: string };
const params = new URLSearchParams(location.search);
const steps = Number(params.get('steps') ?? 20);
const calibrate = (params.get('calibrate') ?? 'none') as 'none' | 'icq';
const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  out.textContent = lines.join('\n');
};

/** Long tasks on this (the main) thread while `body` runs. */
async function longTasks<T>(body: () => Promise<T>): Promise<{ result: T; count: number; maxMs: number; totalMs: number; wallMs: number }> {
  const durations: number[] = [];
  const observer = new PerformanceObserver((list) => durations.push(...list.getEntries().map((e) => e.duration)));
  observer.observe({ type: 'longtask', buffered: false });
  const t0 = performance.now();
  const result = await body();
  const wallMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 100));
  observer.disconnect();
  return { result, count: durations.length, maxMs: Math.max(0, ...durations), totalMs: durations.reduce((a, b) => a + b, 0), wallMs };
}

/** The observer's control: a 120 ms task must show up as one long task (else counts of 0 below mean nothing). */
async function control(): Promise<number> {
  const probe = await longTasks(() => new Promise<void>((resolve) => setTimeout(() => {
    const t0 = performance.now();
    while (performance.now() - t0 < 120);
    resolve();
  }, 0)));
  return probe.count;
}

try {
  const controlCount = await control();
  log(`control: a 120 ms task gave ${controlCount} long task(s)`);
  const database = `qlora-web-bench-${Date.now()}`;
  const model = `${location.origin}/model`;
  const quant = { codebook: 'nf', bits: 4, groupSize: 64, calibrate } as const;
  const timed = async (ft: Finetuner) => {
    const t0 = performance.now();
    const info = await ft.load({ model, quant });
    return { info, ms: performance.now() - t0 };
  };
  const first = await createFinetuner({ database });
  const cold = await timed(first);
  log(`cold load: ${(cold.ms / 1000).toFixed(1)} s (fromCache ${cold.info.fromCache})`);
  await first.dispose();
  const second = await createFinetuner({ database });
  const warm = await timed(second);
  log(`warm load: ${(warm.ms / 1000).toFixed(1)} s (fromCache ${warm.info.fromCache})`);
  const cached = (await second.listCached()).find((c) => c.key === cold.info.key)!;
  log(`cache entry: ${cached.bytes} bytes`);

  await second.dispose();

  const text = Array.from({ length: 80 }, (_, i) => `Day ${i}. The wind came from the north and the sea was calm. We made ${i % 9 + 3} knots.`).join('\n');
  const train: TrainRequest = { data: { text }, rank: 8, alpha: 8, steps, batchSize: 2, seqLen: 48, lr: 1e-2, checkpointEvery: 0 };
  const demo = { model: `${location.origin}/demo-model`, quant: { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' } as const };
  const worker = await createFinetuner({ database });
  await worker.load(demo);
  const inWorker = await longTasks(() => worker.train(train, (p) => p.phase === 'train' && p.step === steps && log(`worker: ${steps} steps, loss ${p.loss?.toFixed(3)}`)));
  log(`main-thread long tasks while the worker trains: ${inWorker.count} (max ${inWorker.maxMs.toFixed(0)} ms, total ${inWorker.totalMs.toFixed(0)} of ${inWorker.wallMs.toFixed(0)} ms)`);
  await worker.dispose();

  const page = await createFinetuner({ database, worker: false });
  await page.load(demo);
  const inPage = await longTasks(() => page.train(train));
  log(`main-thread long tasks while the page's thread trains: ${inPage.count} (max ${inPage.maxMs.toFixed(0)} ms, total ${inPage.totalMs.toFixed(0)} of ${inPage.wallMs.toFixed(0)} ms)`);
  await page.dispose();

  w.__benchReport = {
    userAgent: navigator.userAgent, date: new Date().toISOString(), quant, steps,
    longTaskControl: controlCount, coldLoadMs: cold.ms, warmLoadMs: warm.ms, cacheBytes: cached.bytes, key: cold.info.key,
    longTasks: { worker: { ...inWorker, result: undefined }, inPage: { ...inPage, result: undefined } },
    trainSeconds: { worker: inWorker.result.seconds, inPage: inPage.result.seconds },
  };
} catch (e) {
  w.__benchError = `${(e as Error).name}: ${(e as Error).message}`;
  out.textContent = w.__benchError;
}
