// createFinetuner: the public API (README, "Fine-tuning in a web app"). By default the engine runs in a dedicated module Web Worker
// and every call goes through comlink, so the page stays responsive while the GPU trains; { worker: false } runs the
// same engine in the calling thread (what Node does). Callbacks cross as comlink proxies, exported files come back as
// transferred ArrayBuffers, and errors keep their class and fields (./errors.ts).
import * as Comlink from 'comlink';
import { FinetuneEngine, type EngineOptions } from './engine';
import { FinetunerError, installErrorTransfer } from './errors';
import type { MethodName } from '../adapters';
import type {
  CachedEntry, EvaluateRequest, ExportMergedRequest, Files, GenerateRequest, LoadRequest, ModelInfo, ProgressCallback, TrainRequest,
  TrainSummary,
} from './types';

export interface FinetunerOptions extends EngineOptions {
  /** Run the engine in a Web Worker (default: true where Worker exists, false in Node), or in this Worker, made by
   *  the app from the `qlora-web/worker` entry (for bundlers that do not follow `new URL(…, import.meta.url)`; see
   *  the README). */
  worker?: boolean | Worker;
}

export interface Finetuner {
  load(request: LoadRequest, onProgress?: ProgressCallback): Promise<ModelInfo>;
  train(request: TrainRequest, onProgress?: ProgressCallback): Promise<TrainSummary>;
  resume(runId?: string, onProgress?: ProgressCallback): Promise<TrainSummary>;
  generate(prompt: string | number[], request?: GenerateRequest, onText?: (text: string) => void): Promise<string>;
  evaluate(text: string | number[], request?: EvaluateRequest, onProgress?: ProgressCallback): Promise<{ loss: number; perplexity: number; tokens: number }>;
  exportAdapter(options?: { optimizer?: boolean }): Promise<Files>;
  exportMerged(request?: ExportMergedRequest): Promise<Files>;
  importAdapter(files: Record<string, ArrayBuffer | Blob>): Promise<{ method: MethodName; trainedSteps: number }>;
  saveCheckpoint(runId?: string): Promise<void>;
  abort(): Promise<void>;
  listCached(): Promise<CachedEntry[]>;
  deleteCached(key: string, kind?: CachedEntry['kind']): Promise<void>;
  /** Destroys the GPU device as a driver reset would: training recovers from its last checkpoint (for tests). */
  simulateDeviceLoss(): Promise<void>;
  /** Stops the running request (training saves a checkpoint), frees the GPU and, in worker mode, ends the worker. */
  dispose(): Promise<void>;
  /** Worker mode: ends the worker at once, as closing the page would (steps since the last checkpoint are lost).
   *  In-thread: the same as dispose(). */
  terminate(): Promise<void>;
  /** True when the engine runs in a worker. */
  readonly inWorker: boolean;
}

/** How long a new worker may take to answer its first call (it loads the library's worker bundle first). */
const HANDSHAKE_MS = 60_000;

const canSpawnWorker = () => typeof Worker !== 'undefined' && typeof window !== 'undefined';

export async function createFinetuner(options: FinetunerOptions = {}): Promise<Finetuner> {
  const { worker = canSpawnWorker(), ...engineOptions } = options;
  if (!worker) return inThread(new FinetuneEngine(engineOptions));
  const given = typeof worker === 'object' ? worker : null;
  if (given && !(typeof Worker !== 'undefined' && given instanceof Worker)) throw new FinetunerError('createFinetuner: worker must be true, false or a Worker');
  if (!given && !canSpawnWorker()) throw new FinetunerError('createFinetuner: this environment has no Web Worker (pass { worker: false })');
  if (Object.keys(engineOptions).some((k) => k !== 'database')) {
    throw new FinetunerError('createFinetuner: device options cannot cross into a worker (pass { worker: false } to use them)');
  }
  installErrorTransfer();
  const w = given ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'qlora-web' });
  const remote = Comlink.wrap<FinetuneEngine>(w);
  // A worker whose script does not load never answers: its 'error' event turns the handshake into a clear error.
  const failed = new Promise<never>((_, reject) => {
    const hint = given ? 'its script did not load: make it from qlora-web/worker' : 'its script did not load: the app must serve qlora-web\'s assets/worker-*.js beside qlora-web.js';
    w.addEventListener('error', (e) => reject(new FinetunerError(`createFinetuner: the worker failed to start (${e.message || hint})`)), { once: true });
  });
  // A worker running some other script loads fine and never answers: the handshake has a deadline too.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FinetunerError(`createFinetuner: the worker did not answer in ${HANDSHAKE_MS / 1000} s${given ? ': is it made from qlora-web/worker?' : ''}`)), HANDSHAKE_MS);
  });
  try {
    await Promise.race([remote.configure({ database: engineOptions.database }), failed, silent]);
  } catch (e) {
    w.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const cb = <T extends (...args: never[]) => unknown>(f?: T) => (f ? Comlink.proxy(f) : undefined);
  return {
    inWorker: true,
    load: (r, p) => remote.load(r, cb(p)),
    train: (r, p) => remote.train(r, cb(p)),
    resume: (id, p) => remote.resume(id, cb(p)),
    generate: (prompt, r, onText) => remote.generate(prompt, r, cb(onText)),
    evaluate: (t, r, p) => remote.evaluate(t, r, cb(p)),
    exportAdapter: (o) => remote.exportAdapter(o),
    exportMerged: (r) => remote.exportMerged(r),
    importAdapter: (files) => remote.importAdapter(files),
    saveCheckpoint: (id) => remote.saveCheckpoint(id),
    abort: () => remote.abort(),
    listCached: () => remote.listCached(),
    deleteCached: (k, kind) => remote.deleteCached(k, kind),
    simulateDeviceLoss: () => remote.simulateDeviceLoss(),
    dispose: async () => {
      await remote.dispose().catch(() => {});
      remote[Comlink.releaseProxy]();
      w.terminate();
    },
    terminate: async () => w.terminate(),
  };
}

function inThread(engine: FinetuneEngine): Finetuner {
  return {
    inWorker: false,
    load: (r, p) => engine.load(r, p),
    train: (r, p) => engine.train(r, p),
    resume: (id, p) => engine.resume(id, p),
    generate: (prompt, r, onText) => engine.generate(prompt, r, onText),
    evaluate: (t, r, p) => engine.evaluate(t, r, p),
    exportAdapter: (o) => engine.exportAdapter(o),
    exportMerged: (r) => engine.exportMerged(r),
    importAdapter: (files) => engine.importAdapter(files),
    saveCheckpoint: (id) => engine.saveCheckpoint(id),
    abort: async () => engine.abort(),
    listCached: () => engine.listCached(),
    deleteCached: (k, kind) => engine.deleteCached(k, kind),
    simulateDeviceLoss: async () => engine.simulateDeviceLoss(),
    dispose: () => engine.dispose(),
    terminate: () => engine.dispose(),
  };
}
