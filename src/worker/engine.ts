// The finetuner's engine: one model, its tokenizer and its adapters on one GPU runtime, driven by plain-data requests.
// It runs wherever it is constructed: inside the worker (src/worker/worker.ts, through comlink) or in the calling
// thread (createFinetuner({ worker: false }), and in Node). One request runs at a time; abort() stops the running one.
// Training saves a checkpoint every N steps (IndexedDB where there is one, and the last one in memory); a lost GPU
// device mid-training is recovered from it: a new device, the model reloaded (from the cache), the run continued.
import * as Comlink from 'comlink';
import { buildAdapters, METHOD_NAMES, methodOf, type AdapterSet, type MethodName } from '../adapters';
import { Runtime, type DeviceOptions, type RuntimeOptions } from '../gpu';
import {
  blobSource, directoryFiles, exportAdapter, hubUrl, exportDense, exportQuantized, hubSource, importAdapter, LlamaModel, loadTokenizer,
  firstQuantized, mergeAdapters, perplexity, generateTokens, urlSource, type ModelSource, type TextTokenizer,
  type LoadProgress,
} from '../model';
import type { QuantSpec } from '../quant';
import { cacheKey, checkpointFromFiles, loadCachedModel, ModelCache, saveCheckpoint, StorageQuotaError, type CacheProblem } from '../storage';
import {
  alpacaDataset, chatDataset, plannedSteps, splitDataset, textDataset, tokenizedDataset, train, TrainingError, type Dataset, type StepInfo,
  type TrainOptions,
} from '../train';
import { field, readRecord } from '../storage/records';
import { FinetunerError } from './errors';
import { changedFiles, UPSTREAM, upstreamTags, type UpstreamTags } from './upstream';
import type {
  CachedEntry, EvaluateRequest, ExportMergedRequest, Files, GenerateRequest, LoadRequest, ModelInfo, ProgressCallback, Progress,
  TrainRequest, TrainSummary,
} from './types';

export interface EngineOptions {
  /** IndexedDB database for cached models and checkpoints, default 'qlora-web'. */
  database?: string;
  /** Passed to Runtime.create (e.g. { gpu } or { nodeMatrixUnits: true } in Node; { precision: 'f32' }). */
  device?: DeviceOptions & Pick<RuntimeOptions, 'precision'>;
}

/** NF4 in groups of 64 with ICQ: the default base format (QLoRA's codebook, IR-QLoRA's calibration). */
export const DEFAULT_QUANT: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' };
const CHECKPOINT = 'checkpoint:';
const REQUEST = 'request.json';
const RECOVERIES = 3;

interface Loaded {
  request: LoadRequest;
  key: string;
  model: LlamaModel;
  tokenizer: TextTokenizer | null;
  /** What an exported adapter names as its base (PEFT's base_model_name_or_path): the hub id, else the model's own
   *  name; null when there is none to give. */
  baseName: string | null;
}

interface Checkpoint {
  runId: string;
  step: number;
  files: Record<string, Blob>;
}

/** A progress reporter; `flush()` waits (at most 1 s) until the last report reached the callback. */
type Report = ((p: Progress, force?: boolean) => void) & { flush(): Promise<void> };

/** Calls a progress callback at most every 100 ms per phase and file (always for the last unit and for every training
 *  step); a callback that throws or a page that went away never stops the work. Across a worker, a callback is a
 *  comlink proxy on a port of its own, so its last report could arrive after the method's result: methods flush()
 *  before they return. */
function reporter(onProgress?: ProgressCallback): Report {
  const last = new Map<string, number>();
  let pending: Promise<unknown> = Promise.resolve();
  const report = (p: Progress, force = false) => {
    if (!onProgress) return;
    const now = performance.now();
    const key = `${p.phase}:${'file' in p ? p.file : ''}`;
    // Every training step is reported (a chart wants each); bytes, linears and windows are thinned.
    if (!force && p.phase !== 'train' && p.loaded !== p.total && now - (last.get(key) ?? -Infinity) < 100) return;
    last.set(key, now);
    try {
      pending = Promise.resolve(onProgress(p)).catch(() => {});
    } catch {
      // ignored
    }
  };
  return Object.assign(report, {
    flush: () => Promise.race([pending, new Promise((resolve) => setTimeout(resolve, 1000))]).then(() => {}),
  });
}

const hasIndexedDb = () => typeof indexedDB !== 'undefined';

/** Stored upstream tags: file name → tag or null. */
const [isTags] = field.mapOf(field.stringOrNull);

async function toBuffers(files: Record<string, Blob>): Promise<Files> {
  const out: Files = {};
  for (const [name, blob] of Object.entries(files)) out[name] = await blob.arrayBuffer();
  return Comlink.transfer(out, Object.values(out));
}

export class FinetuneEngine {
  private rt: Runtime | null = null;
  private loaded: Loaded | null = null;
  private adapters: AdapterSet | null = null;
  private busy: string | null = null;
  private running: Promise<unknown> | null = null;
  private controller: AbortController | null = null;
  private lastCheckpoint: Checkpoint | null = null;
  /** The checkpoint before lastCheckpoint (same run): a rollback target when the loss explodes right after the last. */
  private earlierCheckpoint: Checkpoint | null = null;
  private cache: ModelCache | null = null;
  /** Where the cache's reports of broken entries go during the running request. */
  private onCacheProblem: ((p: CacheProblem) => void) | null = null;

  constructor(private options: EngineOptions = {}) {
    this.configure(options);
  }

  /** Sets the options (before the first load; a worker's engine is built before the page's options arrive). */
  configure(options: EngineOptions): void {
    if (this.rt) throw new FinetunerError('configure: the engine is already in use');
    this.options = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.cache = hasIndexedDb() ? new ModelCache({ database: options.database ?? 'qlora-web', onProblem: (p) => this.onCacheProblem?.(p) }) : null;
  }

  /** Loads a model (from the cache when it holds it), replacing the one loaded before. */
  async load(request: LoadRequest, onProgress?: ProgressCallback): Promise<ModelInfo> {
    return this.exclusive('load', async (signal) => {
      const report = reporter(onProgress);
      const t0 = performance.now();
      this.unload();
      const rt = await this.runtime();
      const { loaded, fromCache } = await this.loadModel(rt, request, report, signal);
      this.loaded = loaded;
      await report.flush();
      const c = loaded.model.config;
      return {
        key: loaded.key, name: loaded.baseName, fromCache, layers: c.layers, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, maxPositions: c.maxPositions, quant: this.quantOf(request),
        embedding: firstQuantized(loaded.model.weights.embed) ? 'quantized' : 'f32',
        hasTokenizer: loaded.tokenizer !== null, seconds: (performance.now() - t0) / 1000, matmul: rt.capabilities.matmul,
      };
    });
  }

  /** Trains new adapters of `request.method` on `request.data`; checkpoints as it goes. */
  async train(request: TrainRequest, onProgress?: ProgressCallback): Promise<TrainSummary> {
    return this.exclusive('train', async (signal) => {
      const loaded = this.need();
      const data = this.dataset(request);
      this.replaceAdapters(null);
      const adapters = createAdapters(loaded.model, request);
      this.replaceAdapters(adapters);
      const report = reporter(onProgress);
      try {
        return await this.run(request, data, adapters, 0, report, signal);
      } finally {
        await report.flush();
      }
    });
  }

  /** Continues run `runId` from its last checkpoint (e.g. after a page reload), on the model loaded now; the loss
   *  curve goes on exactly as the uninterrupted run's would. */
  async resume(runId = 'run', onProgress?: ProgressCallback): Promise<TrainSummary> {
    return this.exclusive('resume', async (signal) => {
      const loaded = this.need();
      const files = this.lastCheckpoint?.runId === runId ? this.lastCheckpoint.files : await this.cache?.get(CHECKPOINT + runId);
      if (!files) throw new FinetunerError(`resume: no checkpoint of run '${runId}' ${this.cache ? 'in IndexedDB' : '(no IndexedDB here; only this session\'s checkpoints)'}`);
      // The rest of the request is checked as train() checks it.
      const request = await readRecord<TrainRequest>(files[REQUEST], `checkpoint '${runId}' ${REQUEST}`, { data: field.object });
      const data = this.dataset(request);
      const { adapters, state } = await checkpointFromFiles(runId, files, loaded.model, data.train);
      this.replaceAdapters(adapters);
      this.lastCheckpoint = { runId, step: state.step, files };
      this.earlierCheckpoint = null;
      const steps = plannedSteps(request, data.train.examples.length);
      if (state.step >= steps) {
        // A finished run: its adapters are attached as they ended, nothing is left to train.
        return { runId, method: request.method ?? 'qlora', stopped: 'completed', step: state.step, steps, losses: [], evals: [], recoveries: [], seconds: 0 };
      }
      const report = reporter(onProgress);
      try {
        return await this.run(request, data, adapters, state.step, report, signal);
      } finally {
        await report.flush();
      }
    });
  }

  /** Text generated after `prompt` (a string, or token ids); `onText` gets each new piece as it is decoded. */
  async generate(prompt: string | number[], request: GenerateRequest = {}, onText?: (text: string) => void): Promise<string> {
    return this.exclusive('generate', async (signal) => {
      const { model } = this.need();
      const tok = this.needTokenizer('generate');
      const maxTokens = request.maxTokens ?? 128;
      if (!(Number.isInteger(maxTokens) && maxTokens >= 1)) throw new FinetunerError(`generate: maxTokens must be a whole number ≥ 1, got ${maxTokens}`);
      const ids = typeof prompt === 'string' ? tok.encode(prompt) : prompt;
      if (ids.length === 0) throw new FinetunerError('generate: the prompt is empty (and this tokenizer adds no start token)');
      const maxNewTokens = Math.min(maxTokens, model.config.maxPositions - ids.length);
      if (maxNewTokens < 1) throw new FinetunerError(`generate: the prompt's ${ids.length} tokens leave no room in max_position_embeddings ${model.config.maxPositions}`);
      const out: number[] = [];
      let sent = '';
      await this.withAdapters(request.adapters, () => generateTokens(model, ids, {
        maxNewTokens, temperature: request.temperature, topP: request.topP, topK: request.topK, seed: request.seed, signal,
        onToken: (id) => {
          out.push(id);
          const text = tok.decode(out, { skipSpecialTokens: true });
          // A piece that ends inside a multi-byte character decodes to U+FFFD: wait for the next token.
          if (onText && !text.endsWith('\uFFFD') && text.length > sent.length) {
            Promise.resolve(onText(text.slice(sent.length))).catch(() => {});
            sent = text;
          }
        },
      }));
      return out.length ? tok.decode(out, { skipSpecialTokens: true }) : '';
    });
  }

  /** Perplexity of the model (with its adapters) on `text` (or token ids), in sliding windows. */
  async evaluate(text: string | number[], request: EvaluateRequest = {}, onProgress?: ProgressCallback): Promise<{ loss: number; perplexity: number; tokens: number }> {
    return this.exclusive('evaluate', async () => {
      const { model } = this.need();
      const ids = typeof text === 'string' ? this.needTokenizer('evaluate').encode(text) : text;
      const window = request.window ?? Math.min(512, model.config.maxPositions);
      const report = reporter(onProgress);
      const r = await this.withAdapters(request.adapters, () => perplexity(model, ids, {
        window, stride: request.stride, onProgress: (p) => report({ phase: 'eval', loaded: p.windows, total: p.total }),
      }));
      await report.flush();
      return { loss: r.meanLoss, perplexity: r.perplexity, tokens: r.tokens };
    });
  }

  /** The adapters' files (PEFT's format for plain LoRA, our superset for the other methods); with their AdamW moments
   *  (optimizer.safetensors) when `optimizer` is set. */
  async exportAdapter(options: { optimizer?: boolean } = {}): Promise<Files> {
    return this.exclusive('exportAdapter', async () => {
      const adapters = this.needAdapters('exportAdapter');
      return toBuffers(await exportAdapter(adapters, { optimizer: options.optimizer, baseModel: this.loaded!.baseName ?? undefined }));
    });
  }

  /** The model with the adapters folded in (see ExportMergedRequest for the two formats). */
  async exportMerged(request: ExportMergedRequest = {}): Promise<Files> {
    return this.exclusive('exportMerged', async () => {
      const { model } = this.need();
      const adapters = this.needAdapters('exportMerged');
      if ((request.format ?? 'quantized') === 'dense') return toBuffers(await exportDense(model, { dtype: request.dtype, adapters }));
      await mergeAdapters(model, adapters);
      this.replaceAdapters(null);
      return toBuffers(await exportQuantized(model));
    });
  }

  /** Attaches adapters exported by exportAdapter (or PEFT's save_pretrained) to the loaded model. */
  async importAdapter(files: Record<string, ArrayBuffer | Blob>): Promise<{ method: MethodName; trainedSteps: number }> {
    return this.exclusive('importAdapter', async () => {
      const { model } = this.need();
      const blobs = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v instanceof Blob ? v : new Blob([v])]));
      const adapters = await importAdapter(model, blobSource('imported adapter', blobs));
      this.replaceAdapters(adapters);
      return { method: methodOf(adapters), trainedSteps: adapters.trainedSteps };
    });
  }

  /** Saves the current adapters as run `runId`'s checkpoint now (training saves its own as it goes). */
  async saveCheckpoint(runId = 'run'): Promise<void> {
    return this.exclusive('saveCheckpoint', async () => {
      if (!this.lastCheckpoint || this.lastCheckpoint.runId !== runId) throw new FinetunerError(`saveCheckpoint: run '${runId}' has not trained in this session`);
      if (!this.cache) throw new FinetunerError('saveCheckpoint: there is no IndexedDB here to save into');
      await this.cache.put(CHECKPOINT + runId, this.lastCheckpoint.files);
    });
  }

  /** Stops the running request: training ends after the step in flight (and saves a checkpoint), generation after
   *  the token in flight, a load between tensors. */
  abort(): void {
    this.controller?.abort();
  }

  async listCached(): Promise<CachedEntry[]> {
    if (!this.cache) return [];
    return (await this.cache.list()).map((e) => e.key.startsWith(CHECKPOINT)
      ? { key: e.key.slice(CHECKPOINT.length), kind: 'checkpoint' as const, bytes: e.bytes, createdAt: e.createdAt }
      : { key: e.key, kind: 'model' as const, bytes: e.bytes, createdAt: e.createdAt });
  }

  async deleteCached(key: string, kind: CachedEntry['kind'] = 'model'): Promise<void> {
    await this.cache?.delete(kind === 'checkpoint' ? CHECKPOINT + key : key);
  }

  /** Aborts the running request, waits for it to stop (training saves its checkpoint), frees the GPU. */
  async dispose(): Promise<void> {
    this.controller?.abort();
    await this.running;
    this.unload();
    this.rt?.dispose();
    this.rt = null;
  }

  /** Destroys the GPU device as a driver reset or a GPU process crash would (to test recovery). */
  simulateDeviceLoss(): void {
    this.rt?.device.destroy();
  }

  // --- internals ---

  private async exclusive<T>(what: string, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.busy) throw new FinetunerError(`${what}: '${this.busy}' is still running; await it or abort() it first`);
    this.busy = what;
    const controller = new AbortController();
    this.controller = controller;
    const running = body(controller.signal);
    this.running = running.catch(() => {});
    try {
      return await running;
    } finally {
      this.busy = null;
      this.controller = null;
      this.running = null;
    }
  }

  private async runtime(): Promise<Runtime> {
    if (!this.rt || this.rt.deviceLost) this.rt = await Runtime.create(this.options.device);
    return this.rt;
  }

  private quantOf(request: LoadRequest): QuantSpec | null {
    return request.quant === undefined ? DEFAULT_QUANT : request.quant;
  }

  /** The model of a load request with its tokenizer (when it has tokenizer.json), through the cache. */
  private async loadModel(rt: Runtime, request: LoadRequest, report: (p: Progress) => void, signal: AbortSignal): Promise<{ loaded: Loaded; fromCache: boolean }> {
    const { source, base, init } = await resolveSource(request, signal);
    const withTokenizer = async (model: LlamaModel, fromCache: boolean) => {
      const tokenizer = (await model.source?.file('tokenizer.json')) ? await loadTokenizer(model.source!) : null;
      return { loaded: { request, key, model, tokenizer, baseName: await baseModelName(request, source) }, fromCache };
    };
    const quant = this.quantOf(request);
    const key = quant ? cacheKey(source, quant, request.quantizeLmHead, request.embedding) : `${source.name}|f32`;
    const onProgress = (p: LoadProgress) => report({ ...p });
    const useCache = this.cache && quant && request.cache !== false;
    const say = (message: string) => report({ phase: 'cache', loaded: 0, total: null, message });
    if (!useCache) return withTokenizer(await LlamaModel.load(rt, source, { quant, quantizeLmHead: request.quantizeLmHead, embedding: request.embedding, onProgress, signal }), false);
    let tags: UpstreamTags | null = null;
    /** A hit whose description moved upstream is stale; offline, the cached copy is used and the user told. */
    const stale = async (hit: Record<string, Blob>): Promise<string | null> => {
      if (!hit[UPSTREAM] || !base) return null;
      try {
        tags = await upstreamTags(base, init);
      } catch (e) {
        if (signal.aborted) throw e;
        say(`could not check ${source.name} for upstream changes (${(e as Error).message}); using the cached copy`);
        return null;
      }
      const stored = await readRecord<UpstreamTags>(hit[UPSTREAM], `cached ${UPSTREAM}`, {}).catch(() => null);
      // Unreadable tags: as if everything changed, so the model is fetched again.
      const changed = stored && isTags(stored) ? changedFiles(stored, tags) : [UPSTREAM];
      return changed.length ? `${changed.join(', ')} changed upstream since ${source.name} was cached` : null;
    };
    this.onCacheProblem = (p) => say(`the cached model was broken (${p.reason}: ${p.detail}); loading it from ${source.name} again`);
    try {
      const { model, fromCache } = await loadCachedModel(rt, source, this.cache!, {
        quant, quantizeLmHead: request.quantizeLmHead, embedding: request.embedding, onProgress, signal, stale,
        onDropped: (reason) => say(`${reason}; loading it again`),
        onCacheRead: (p) => report({ ...p, phase: 'cache' }),
        // Without tags (a server that refuses HEAD) the entry is served as it is, unchecked.
        extraFiles: async (): Promise<Record<string, Blob>> => {
          if (base) tags ??= await upstreamTags(base, init).catch(() => null);
          return tags ? { [UPSTREAM]: new Blob([JSON.stringify(tags)]) } : {};
        },
        onStore: (p) => report({ phase: 'cache', loaded: p.loaded, total: p.total, file: p.file }),
      });
      return withTokenizer(model, fromCache);
    } catch (e) {
      if (e instanceof StorageQuotaError) e.message += ' (or load with cache: false)';
      throw e;
    } finally {
      this.onCacheProblem = null;
    }
  }

  /** Runs `body` with the adapters attached (the default) or, for `enabled === false`, with the bare base model. */
  private async withAdapters<T>(enabled: boolean | undefined, body: () => Promise<T>): Promise<T> {
    const { model } = this.need();
    if (enabled !== false || !model.adapters) return body();
    const adapters = model.adapters;
    model.adapters = null;
    try {
      return await body();
    } finally {
      model.adapters = adapters;
    }
  }

  private need(): Loaded {
    if (!this.loaded) throw new FinetunerError('no model is loaded: call load() first');
    return this.loaded;
  }

  private needTokenizer(what: string): TextTokenizer {
    const t = this.need().tokenizer;
    if (!t) throw new FinetunerError(`${what}: the model has no tokenizer.json; pass token ids instead of text`);
    return t;
  }

  private needAdapters(what: string): AdapterSet {
    if (!this.adapters) throw new FinetunerError(`${what}: there are no adapters: train() or importAdapter() first`);
    return this.adapters;
  }

  private replaceAdapters(adapters: AdapterSet | null) {
    if (this.adapters && this.adapters !== adapters) {
      if (this.loaded?.model.adapters === this.adapters) this.loaded.model.adapters = null;
      this.adapters.dispose();
    }
    this.adapters = adapters;
    if (this.loaded) this.loaded.model.adapters = adapters;
  }

  private unload() {
    this.replaceAdapters(null);
    this.loaded?.model.dispose();
    this.loaded = null;
  }

  private dataset(request: TrainRequest): { train: Dataset; validation: Dataset | null } {
    const { model } = this.need();
    const seqLen = request.seqLen ?? Math.min(256, model.config.maxPositions);
    if (seqLen > model.config.maxPositions) throw new FinetunerError(`train: seqLen ${seqLen} exceeds the model's max_position_embeddings ${model.config.maxPositions}`);
    const build = (data: unknown, name: string | undefined, what: string): Dataset => {
      if (typeof data !== 'object' || data === null) throw new FinetunerError(`train: ${what} must be one of { text }, { alpaca }, { chat }, { tokens }; got ${data === null ? 'null' : typeof data}`);
      const d = data as Record<string, unknown>;
      const options = { seqLen, ...(name ? { name } : {}) };
      if ('tokens' in d) return tokenizedDataset(d.tokens as never, { ...options, vocabSize: model.config.vocabSize });
      if ('text' in d) return textDataset(this.needTokenizer('train'), d.text as string | string[], options);
      if ('alpaca' in d) return alpacaDataset(this.needTokenizer('train'), d.alpaca as string, options);
      if ('chat' in d) return chatDataset(this.needTokenizer('train'), d.chat as string, options);
      throw new FinetunerError(`train: ${what} must be one of { text }, { alpaca }, { chat }, { tokens }; got keys ${JSON.stringify(Object.keys(d))}`);
    };
    const ds = build(request.data, request.dataName, 'data');
    const v = request.validation;
    if (!v) return { train: ds, validation: null };
    if (typeof v === 'object') return { train: ds, validation: build(v, request.dataName && `${request.dataName} (validation)`, 'validation') };
    return splitDataset(ds, v, request.seed ?? 0);
  }

  /** The training loop around train(): progress, checkpoints (IndexedDB and memory), abort, device-loss recovery. */
  private async run(request: TrainRequest, data: { train: Dataset; validation: Dataset | null }, adapters: AdapterSet, startStep: number, report: (p: Progress, force?: boolean) => void, signal: AbortSignal): Promise<TrainSummary> {
    const runId = request.runId ?? 'run';
    const t0 = performance.now();
    const plain = plainOptions(request);
    const requestBlob = new Blob([JSON.stringify(request)]);
    const losses = new Map<number, number>();
    const evals: TrainSummary['evals'] = [];
    const recoveries: TrainSummary['recoveries'] = [];
    let current = adapters;
    let from = startStep;
    let stopped: TrainSummary['stopped'] = 'completed';
    const total = plannedSteps(request, data.train.examples.length);
    const stepMs: number[] = [];
    let message: string | undefined;
    const save = async (model: LlamaModel, adapters: AdapterSet, step: number) => {
      const files = await saveCheckpoint(this.cache, CHECKPOINT + runId, model, adapters, data.train, plain, step, { [REQUEST]: requestBlob });
      if (this.lastCheckpoint?.runId === runId) this.earlierCheckpoint = this.lastCheckpoint;
      this.lastCheckpoint = { runId, step, files };
    };
    /** Saves `step` as the run's checkpoint unless it is the one stored already (the last save of the loop). */
    const keepCheckpoint = async (model: LlamaModel, adapters: AdapterSet, step: number) => {
      if (this.lastCheckpoint?.runId === runId && this.lastCheckpoint.step === step) return;
      await save(model, adapters, step);
    };
    for (;;) {
      const loaded = this.need();
      const options: TrainOptions = {
        ...plain, startStep: from, evalData: data.validation ?? undefined, signal,
        checkpointEvery: request.checkpointEvery ?? 50,
        onStep: (s: StepInfo) => {
          losses.set(s.step, s.loss);
          stepMs.push(s.stepMs);
          report({
            phase: 'train', loaded: s.step, total, step: s.step, loss: s.loss, tokensPerSecond: s.tokensPerSecond,
            etaSeconds: (etaStepMs(stepMs) * (total - s.step)) / 1000,
          }, s.step === total);
        },
        onEval: (e) => {
          evals.push({ step: e.step, loss: e.loss, perplexity: e.perplexity });
          report({ phase: 'eval', loaded: e.step, total, step: e.step, loss: e.loss }, true);
        },
        onCheckpoint: (step) => save(loaded.model, current, step),
      };
      try {
        const result = await train(loaded.model, current, data.train, options);
        stopped = result.stopped;
        // The finished adapters are kept too (a page reload would lose them otherwise).
        if (stopped === 'completed') await keepCheckpoint(loaded.model, current, current.trainedSteps);
        break;
      } catch (e) {
        const lost = this.rt?.deviceLost;
        if (!lost && e instanceof TrainingError && e.step !== null) {
          // Non-finite or exploding: keep the last good adapters, say so, and end the run as 'diverged'.
          current = await this.lastGood(runId, request, e, current, data);
          if (current.trainedSteps > 0) await keepCheckpoint(this.need().model, current, current.trainedSteps);
          else {
            // Back at the start: no checkpoint of this run describes that (a later resume would take a bad one).
            if (this.lastCheckpoint?.runId === runId) this.lastCheckpoint = null;
            await this.cache?.delete(CHECKPOINT + runId);
          }
          for (const s of [...losses.keys()]) if (s > current.trainedSteps) losses.delete(s);
          stopped = 'diverged';
          message = e.diverged
            ? `The loss exploded from step ${e.step} on (the learning rate is probably too high), so training stopped. The adapter is back at step ${current.trainedSteps}, its last good state.`
            : `Training stopped at step ${e.step}: the ${e.tensor === 'loss' ? 'loss' : `gradient (${e.tensor})`} became NaN or infinite (the learning rate is probably too high). The adapter is kept as it was after step ${current.trainedSteps}.`;
          break;
        }
        if (!lost || recoveries.length >= RECOVERIES) throw e;
        const atStep = Math.max(from, ...losses.keys());
        current = await this.recover(runId, request, data);
        from = current.trainedSteps;
        recoveries.push({ atStep, fromStep: from });
        for (const s of [...losses.keys()]) if (s > from) losses.delete(s);
        report({ phase: 'train', loaded: from, total, step: from, message: `the GPU device was lost (${lost.message}) after step ${atStep}; reloaded the model and resumed from the checkpoint at step ${from}` }, true);
      }
    }
    return {
      runId, method: request.method ?? 'qlora', stopped, ...(message ? { message } : {}), step: current.trainedSteps, steps: total,
      losses: [...losses.entries()].sort((a, b) => a[0] - b[0]).map(([step, loss]) => ({ step, loss })),
      evals, recoveries, seconds: (performance.now() - t0) / 1000,
    };
  }

  /** The adapters to keep after a failed step. A non-finite step never touched them (they hold the step before it).
   *  An explosion from step k was measured on the adapters of step k − 1, so the last good state is step k − 2 or
   *  earlier: the latest checkpoint of this run at or before it, else the run's fresh adapters (its first step). */
  private async lastGood(runId: string, request: TrainRequest, e: TrainingError, adapters: AdapterSet, data: { train: Dataset }): Promise<AdapterSet> {
    if (!e.diverged) return adapters;
    const { model } = this.need();
    const good = e.step! - 2;
    const from = [this.lastCheckpoint, this.earlierCheckpoint].find((c) => c && c.runId === runId && c.step <= good);
    const kept = from ? (await checkpointFromFiles(runId, from.files, model, data.train)).adapters : createAdapters(model, request);
    this.replaceAdapters(kept);
    this.earlierCheckpoint = null;
    return kept;
  }

  /** After a device loss: a new runtime, the model reloaded, the run's last checkpoint (or fresh adapters). */
  private async recover(runId: string, request: TrainRequest, data: { train: Dataset }): Promise<AdapterSet> {
    const { request: loadRequest } = this.need();
    this.adapters = null; // their buffers died with the device
    this.loaded = null;
    try {
      this.rt?.dispose();
    } catch {
      // already gone
    }
    this.rt = null;
    const rt = await this.runtime();
    const { loaded } = await this.loadModel(rt, loadRequest, () => {}, new AbortController().signal);
    this.loaded = loaded;
    const { model } = loaded;
    const adapters = this.lastCheckpoint?.runId === runId
      ? (await checkpointFromFiles(runId, this.lastCheckpoint.files, model, data.train)).adapters
      : createAdapters(model, request);
    this.replaceAdapters(adapters);
    return adapters;
  }
}

/** The adapters a request asks for, on every adaptable linear of the model (or request.targets). */
export function createAdapters(model: LlamaModel, request: TrainRequest): AdapterSet {
  const method = request.method ?? 'qlora';
  if (!METHOD_NAMES.includes(method)) throw new FinetunerError(`train: method must be one of ${METHOD_NAMES.join(', ')}, got ${JSON.stringify(request.method)}`);
  return buildAdapters(model.rt, model.adaptableLinears(), method, {
    rank: request.rank, alpha: request.alpha, dropout: request.dropout, targets: request.targets, seed: request.seed,
    groupSize: request.groupSize ?? baseGroupSize(model),
  });
}

/** The time a remaining step will take: the mean of the last 10 steps' own times, leaving out the run's first step
 *  (it also builds the kernels) once there are others. Evaluation and checkpoint time are not in it. */
export function etaStepMs(stepMs: readonly number[]): number {
  const recent = (stepMs.length > 1 ? stepMs.slice(1) : stepMs).slice(-10);
  return recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length);
}

function baseGroupSize(model: LlamaModel): number | null {
  const w = model.weights.layers[0];
  return (w && firstQuantized(w.q)?.spec.groupSize) ?? null;
}

function plainOptions(request: TrainRequest): TrainOptions {
  const { data: _d, dataName: _n, method: _m, rank: _r, alpha: _a, dropout: _p, targets: _t, groupSize: _g, seqLen: _s, validation: _v, runId: _i, checkpointEvery: _c, ...rest } = request;
  return rest;
}

/** The base an exported adapter names: a hub id as given; for a URL, its last path segment (the hub's layout names
 *  the folder after the model); for local files, config.json's _name_or_path when it holds one. */
async function baseModelName(request: LoadRequest, source: ModelSource): Promise<string | null> {
  const m = request.model;
  if (typeof m === 'string') {
    if (!/^https?:\/\//.test(m)) return m;
    const segment = new URL(m).pathname.split('/').filter(Boolean).at(-1);
    return segment ? decodeURIComponent(segment) : null;
  }
  try {
    const config = await source.file('config.json');
    const name = config ? (JSON.parse(await config.text()) as Record<string, unknown>)._name_or_path : null;
    return typeof name === 'string' && name.trim() ? name : null;
  } catch {
    return null;
  }
}

/** The model's files for a load request, and for a URL model its base URL and request options. */
async function resolveSource(request: LoadRequest, signal: AbortSignal): Promise<{ source: ModelSource; base: string | null; init: RequestInit }> {
  const m = request.model;
  const init: RequestInit = { signal, ...(request.token ? { headers: { Authorization: `Bearer ${request.token}` } } : {}) };
  if (typeof m === 'string') {
    if (/^https?:\/\//.test(m)) return { source: urlSource(m, init), base: m.replace(/\/+$/, ''), init };
    if (!/^[\w.-]+\/[\w.-]+$/.test(m)) throw new FinetunerError(`load: '${m}' is neither a Hugging Face id ('org/name') nor an http(s) URL`);
    const revision = request.revision ?? 'main';
    return { source: hubSource(m, revision, init), base: hubUrl(m, revision), init };
  }
  if (Array.isArray(m)) return { source: blobSource(await localName(m.map((f) => [f.name, f])), Object.fromEntries(m.map((f) => [f.name, f]))), base: null, init };
  const files = typeof (m as FileSystemDirectoryHandle).kind === 'string' ? await directoryFiles(m as FileSystemDirectoryHandle) : (m as Record<string, Blob>);
  return { source: blobSource(await localName(Object.entries(files)), files), base: null, init };
}

/** A name for local files that changes when they do: their names, sizes and modification times. */
async function localName(files: [string, Blob][]): Promise<string> {
  const desc = files.map(([n, b]) => `${n}:${b.size}:${(b as File).lastModified ?? ''}`).sort().join('|');
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(desc)));
  return `local-${Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
