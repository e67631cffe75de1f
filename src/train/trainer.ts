// The training loop: batches from a Dataset, forward + backward of every micro-batch and one AdamW update
// recorded into one Step (one submit per optimizer step), the step's loss, gradient norm and health read back while
// the next step already runs, evaluation every N steps, abort between steps. A step whose loss or gradient goes
// non-finite stops training with a TrainingError naming the step and the first non-finite tensor; the GPU's
// sticky health flag has kept that step (and any already queued after it) from touching the adapters.
// Whatever must see the adapters of exactly step k (an evaluation, a checkpoint) drains the pipeline first: no later
// step is in flight while it runs. Everything read back per step (loss, norm, health) is copied into that step's
// own report inside the step, so a later step's writes never show up in an earlier step's figures.
import type { AdapterSet } from '../adapters';
import { bufferLimit, numel, type Runtime, type Tensor } from '../gpu';
import type { LlamaModel } from '../model';
import { baseFingerprint, checkPooling, logitRows, recordTrainingPass } from '../model';
import { adamwPartialsShape, adamwStep, rowSum } from '../ops';
import { collate, IGNORE_LABEL, longestRow, shuffled, type CollatedBatch, type Dataset, type Example } from './data';
import { TrainingError } from './errors';
import { learningRate, type ScheduleKind } from './schedule';

export interface StepInfo {
  /** 1-based optimizer step. */
  step: number;
  /** Mean loss over the step's scored tokens (nats). */
  loss: number;
  lr: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Tokens this step trained on (padding excluded) over `stepMs`. */
  tokensPerSecond: number;
  /** Wall time of this step alone: from when it could start (its recording began, or the step before it finished on
   *  the GPU, whichever is later) to when the GPU finished it, as this thread saw it. Evaluation, checkpoints and
   *  the setup before the first step are not in it. */
  stepMs: number;
  /** Since train() started, when this step finished on the GPU. */
  elapsedMs: number;
}

export interface EvalInfo {
  step: number;
  loss: number;
  perplexity: number;
  tokens: number;
}

export interface TrainOptions {
  /** Optimizer steps; default: `epochs` passes over the data. */
  steps?: number;
  /** Steps of this run already taken (a resumed run: the adapters' moments restored by importAdapter, the other
   *  options the same): the data order, the schedule and AdamW's step count go on from step startStep + 1, so the
   *  run ends as an uninterrupted one would, bit for bit. Default 0. */
  startStep?: number;
  /** Default 1 (when steps is not given). */
  epochs?: number;
  /** Rows per micro-batch, default 4. */
  batchSize?: number;
  /** Micro-batches per optimizer step, default 1. */
  gradientAccumulation?: number;
  /** Peak learning rate, default 2e-4. */
  lr?: number;
  /** Default 'linear' (transformers' Trainer default): warmup, then linear decay to 0. */
  schedule?: ScheduleKind;
  warmupSteps?: number;
  /** AdamW, defaults: weightDecay 0, betas [0.9, 0.999], eps 1e-8 (transformers' Trainer). */
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  /** Clip the gradient's global norm to this (default 1.0; 0 turns clipping off). */
  maxGradNorm?: number;
  /** Recompute each decoder layer in the backward instead of keeping its activations (less memory, ~1/3 more work). */
  checkpointing?: boolean;
  /** Seeds the data order and the dropout masks, default 0. */
  seed?: number;
  evalData?: Dataset;
  /** Evaluate every this many steps (and after the last) when evalData is given; default: only after the last. */
  evalEvery?: number;
  /** Rows per evaluation batch. Default: as many as keep a batch's logits within 64 MiB (no backward, so no
   *  activations are kept), at least batchSize and at most 64. */
  evalBatchSize?: number;
  onStep?: (info: StepInfo) => void;
  /** Called every `checkpointEvery` steps, and after an abort, with the last completed step, when no later step has
   *  been submitted yet: the adapters and their moments are exactly that step's (save them, e.g. saveCheckpoint). The
   *  next step waits for it. */
  onCheckpoint?: (step: number) => Promise<unknown>;
  /** Default 0: only after an abort. */
  checkpointEvery?: number;
  onEval?: (info: EvalInfo) => void;
  signal?: AbortSignal;
  /** Stop with a TrainingError (`diverged`) when the loss explodes (see DivergenceWatch: two steps in a row 2 nats
   *  above the first step's loss, or 0.5 nats when that is no better than uniform guessing). Default true. A
   *  non-finite step always stops. */
  stopOnDivergence?: boolean;
}

export interface TrainResult {
  steps: StepInfo[];
  evals: EvalInfo[];
  stopped: 'completed' | 'aborted';
}

type Resolved = Required<Omit<TrainOptions, 'steps' | 'evalData' | 'evalEvery' | 'onStep' | 'onEval' | 'signal' | 'evalBatchSize' | 'startStep' | 'onCheckpoint' | 'checkpointEvery' | 'stopOnDivergence'>> & {
  steps: number; evalEvery: number; evalBatchSize: number; startStep: number;
};

/** The optimizer steps a run of `options` over `rows` rows takes: `steps`, else `epochs` passes over the data. */
export function plannedSteps(options: Pick<TrainOptions, 'steps' | 'epochs' | 'batchSize' | 'gradientAccumulation'>, rows: number): number {
  return options.steps ?? Math.ceil(((options.epochs ?? 1) * rows) / ((options.batchSize ?? 4) * (options.gradientAccumulation ?? 1)));
}

function resolve(options: TrainOptions, rows: number): Resolved {
  const o = {
    epochs: options.epochs ?? 1, batchSize: options.batchSize ?? 4, gradientAccumulation: options.gradientAccumulation ?? 1,
    lr: options.lr ?? 2e-4, schedule: options.schedule ?? 'linear', warmupSteps: options.warmupSteps ?? 0,
    weightDecay: options.weightDecay ?? 0, betas: options.betas ?? [0.9, 0.999], eps: options.eps ?? 1e-8,
    maxGradNorm: options.maxGradNorm ?? 1, checkpointing: options.checkpointing ?? false, seed: options.seed ?? 0,
  } as Resolved;
  const positiveInt = (v: unknown, name: string) => {
    if (!(Number.isInteger(v) && (v as number) >= 1)) throw new TrainingError(`train: ${name} must be a positive integer, got ${v}`);
  };
  const count = (v: unknown, name: string) => {
    if (!(Number.isInteger(v) && (v as number) >= 0)) throw new TrainingError(`train: ${name} must be an integer ≥ 0, got ${v}`);
  };
  positiveInt(o.batchSize, 'batchSize');
  positiveInt(o.gradientAccumulation, 'gradientAccumulation');
  if (o.gradientAccumulation > MAX_GRADIENT_ACCUMULATION) {
    throw new TrainingError(`train: gradientAccumulation must be at most ${MAX_GRADIENT_ACCUMULATION} micro-batches per step, got ${o.gradientAccumulation}; raise batchSize instead`);
  }
  positiveInt(o.epochs, 'epochs');
  o.steps = plannedSteps(options, rows);
  positiveInt(o.steps, 'steps');
  // The optimizer runs in f32 on the GPU: a value finite in f64 can overflow there (lr 1e39) or round to 0 (eps 1e-46),
  // and β = 1 − 1e-12 rounds to 1 (a zero bias correction). Each is checked as the GPU will hold it.
  const f32 = Math.fround;
  const number32 = (v: unknown, name: string, ok: (x: number) => boolean, range: string) => {
    if (!(typeof v === 'number' && Number.isFinite(f32(v)) && ok(f32(v)))) {
      throw new TrainingError(`train: ${name} must be a number ${range} that f32 holds, got ${typeof v === 'number' ? v : JSON.stringify(v)}`);
    }
  };
  number32(o.lr, 'lr', (x) => x > 0, '> 0');
  number32(o.weightDecay, 'weightDecay', (x) => x >= 0 && Number.isFinite(f32(x * f32(o.lr))), '≥ 0 (with lr · weightDecay finite)');
  number32(o.maxGradNorm, 'maxGradNorm', (x) => x >= 0, '≥ 0');
  number32(o.eps, 'eps', (x) => x > 0, '> 0');
  if (!(Array.isArray(o.betas) && o.betas.length === 2)) throw new TrainingError(`train: betas must be two numbers [β1, β2], got ${JSON.stringify(o.betas)}`);
  o.betas.forEach((b, i) => number32(b, `betas[${i}]`, (x) => x >= 0 && x < 1, 'in [0, 1)'));
  if (!Number.isSafeInteger(o.seed)) throw new TrainingError(`train: seed must be an integer, got ${JSON.stringify(o.seed)}`);
  if (typeof o.checkpointing !== 'boolean') throw new TrainingError(`train: checkpointing must be true or false, got ${JSON.stringify(o.checkpointing)}`);
  if (!['constant', 'linear', 'cosine'].includes(o.schedule)) throw new TrainingError(`train: schedule must be constant, linear or cosine, got ${o.schedule}`);
  count(o.warmupSteps, 'warmupSteps');
  o.evalEvery = options.evalEvery ?? 0;
  count(o.evalEvery, 'evalEvery');
  o.startStep = options.startStep ?? 0;
  if (!(Number.isInteger(o.startStep) && o.startStep >= 0 && o.startStep < o.steps)) {
    throw new TrainingError(`train: startStep must be an integer in [0, steps = ${o.steps}), got ${options.startStep}`);
  }
  if (options.checkpointEvery !== undefined) count(options.checkpointEvery, 'checkpointEvery');
  for (const hook of ['onStep', 'onEval', 'onCheckpoint'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') throw new TrainingError(`train: ${hook} must be a function, got ${typeof options[hook]}`);
  }
  o.evalBatchSize = options.evalBatchSize ?? 0; // 0: evalRows() once the model and the evaluation data are known
  if (options.evalBatchSize !== undefined) positiveInt(o.evalBatchSize, 'evalBatchSize');
  return o;
}

/** The default evaluation batch: rows whose logits fit 64 MiB (logitRows, as perplexity() batches windows), within
 *  [batchSize, 64]. Evaluation rows cost a forward alone; few large batches are what a GPU (and a CPU WebGPU, whose
 *  cost is per launch) does fastest. */
function evalRows(model: LlamaModel, data: Dataset, batchSize: number): number {
  return Math.min(64, Math.max(batchSize, logitRows(Math.max(1, longestRow(data.examples)), model.config.vocabSize, bufferLimit(model.rt))));
}

/** Micro-batches recorded into one optimizer step: far above real use (1 to 64), low enough that a step stays one
 *  command buffer of bounded size. */
export const MAX_GRADIENT_ACCUMULATION = 1024;

/** Refuses a batch whose widest activation ([rows · tokens, widest layer] in f32) cannot be one GPU buffer, before
 *  anything is allocated: `option` is what the caller lowers. */
function checkBatchFits(model: LlamaModel, rows: number, tokens: number, option: string) {
  const c = model.config;
  const bytes = rows * tokens * Math.max(c.hiddenSize, c.heads * c.headDim, c.intermediateSize) * 4;
  const limit = bufferLimit(model.rt);
  if (bytes > limit) {
    throw new TrainingError(`train: ${option} ${rows} (rows of up to ${tokens} tokens) needs ${bytes} bytes for one activation, more than one GPU buffer holds here (${limit}); lower ${option} (or the rows' length)`);
  }
}

/** Checks a dataset against the model before anything runs. */
function checkData(model: LlamaModel, ds: Dataset, what: string) {
  const { vocabSize, maxPositions } = model.config;
  ds.examples.forEach((e, i) => {
    if (e.ids.length > maxPositions) throw new TrainingError(`${what} '${ds.name}' row ${i}: ${e.ids.length} tokens exceed the model's max_position_embeddings ${maxPositions}`);
    const bad = e.ids.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
    if (bad >= 0) throw new TrainingError(`${what} '${ds.name}' row ${i}: token ${e.ids[bad]} at ${bad} is outside the vocabulary of ${vocabSize}`);
    // Labels too, whatever built the dataset: the loss kernel indexes the logits with them.
    const label = e.labels.findIndex((l) => !(l === IGNORE_LABEL || (Number.isInteger(l) && l >= 0 && l < vocabSize)));
    if (label >= 0) throw new TrainingError(`${what} '${ds.name}' row ${i}: label ${e.labels[label]} at ${label} is neither ${IGNORE_LABEL} nor inside the vocabulary of ${vocabSize}`);
    if (e.labels.length !== e.ids.length) throw new TrainingError(`${what} '${ds.name}' row ${i}: ${e.labels.length} labels for ${e.ids.length} tokens`);
  });
}

/** Rows in a seeded order, epoch after epoch, handed out batch by batch. */
class BatchStream {
  private order: number[] = [];
  private at = 0;
  private epoch = 0;
  constructor(private readonly examples: Example[], private readonly seed: number) {}
  next(size: number): Example[] {
    const rows: Example[] = [];
    while (rows.length < size) {
      if (this.at >= this.order.length) {
        this.order = shuffled(this.examples.length, (this.seed + 0x9e3779b9 * this.epoch++) >>> 0);
        this.at = 0;
      }
      rows.push(this.examples[this.order[this.at++]]);
    }
    return rows;
  }
}

/** Floats between per-batch loss slots: views must start at the device's storage offset alignment. */
function lossSlot(rt: Runtime): number {
  return rt.device.limits.minStorageBufferOffsetAlignment / 4;
}

function slotView(t: Tensor, index: number, slot: number): Tensor {
  return { ...t, shape: [1], byteOffset: t.byteOffset + index * slot * 4 };
}

/** Watches the loss for an explosion: two steps in a row (one noisy batch is no explosion) above a line drawn from
 *  the first step's loss b (the adapters as the run got them; training lowers the loss): b + 2 nats (7.4× in
 *  perplexity), or already b + 0.5 nats once that is as bad as guessing uniformly over the vocabulary (ln V: a
 *  collapsed model, which is where a far too high learning rate lands). The loss of step s is measured on the
 *  adapters of step s − 1, so when the rise begins at step `from`, those of step from − 2 gave the last normal loss. */
export class DivergenceWatch {
  private line: number | null = null;
  private baseline = 0;
  private above: number | null = null;
  constructor(private readonly vocabSize: number) {}
  add(step: number, loss: number): { from: number; loss: number; baseline: number } | null {
    if (this.line === null) {
      this.baseline = loss;
      this.line = Math.min(loss + 2, Math.max(loss + 0.5, Math.log(this.vocabSize) - 0.05));
      return null;
    }
    if (!(loss > this.line)) {
      this.above = null;
      return null;
    }
    if (this.above === null) {
      this.above = step;
      return null;
    }
    return { from: this.above, loss, baseline: this.baseline };
  }
}

/** A step's own wall time in the pipelined loop: it can start when its recording begins or when the step before it
 *  finished on the GPU, whichever is later (step s is recorded while step s − 1 still runs), and it ends when the GPU
 *  finished it. `previousDone` is −Infinity when nothing ran before it (the first step, or after an evaluation or
 *  checkpoint drained the pipeline, when its recording starts after everything before is done anyway). */
export function stepWallMs(recordStart: number, done: number, previousDone: number): number {
  return Math.max(0, done - Math.max(recordStart, previousDone));
}

function mix(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0;
  return h;
}

/** Mean loss (and perplexity) of the model with its adapters over a dataset, in batches; nothing is trained. */
export async function evaluate(model: LlamaModel, data: Dataset, options: { batchSize?: number } = {}): Promise<{ loss: number; perplexity: number; tokens: number }> {
  checkData(model, data, 'evaluation data');
  const rt = model.rt;
  const size = options.batchSize ?? 4;
  if (!(Number.isInteger(size) && size >= 1)) throw new TrainingError(`evaluate: batchSize must be a positive integer, got ${size}`);
  const longest = longestRow(data.examples);
  checkBatchFits(model, Math.min(size, data.examples.length), longest, 'batchSize');
  model.ropeFor(longest);
  const slot = lossSlot(rt);
  const sums = rt.upload(new Float32Array(Math.ceil(data.examples.length / size) * slot), [Math.ceil(data.examples.length / size) * slot], 'eval loss sums');
  let tokens = 0;
  try {
    const step = rt.step();
    for (let i = 0, k = 0; i < data.examples.length; i += size, k++) {
      const batch = collate(data.examples.slice(i, i + size));
      tokens += batch.scored;
      await recordTrainingPass(model, step, batch, {
        backward: false, lossScale: 0, checkpointing: false, seed: 0, firstMicroBatch: true, lossSum: slotView(sums, k, slot),
      });
    }
    step.submit();
    const loss = ((await rt.read(sums)) as Float32Array).reduce((a, b) => a + b, 0) / tokens;
    return { loss, perplexity: Math.exp(loss), tokens };
  } finally {
    rt.free(sums);
  }
}

/**
 * Trains `adapters` (attached to `model` for the duration) on `data`. Resolves with the history when the last step
 * is done or after an abort (the adapters then hold the last completed step); rejects with a TrainingError on bad
 * options or a non-finite step, a DatasetError-free dataset being assumed (build it with the dataset functions).
 */
export async function train(model: LlamaModel, adapters: AdapterSet, data: Dataset, options: TrainOptions = {}): Promise<TrainResult> {
  const o = resolve(options, data.examples.length);
  checkData(model, data, 'training data');
  const longest = longestRow(data.examples);
  checkBatchFits(model, o.batchSize, longest, 'batchSize');
  if (options.evalData) checkData(model, options.evalData, 'evaluation data');
  if (options.evalData && o.evalBatchSize) checkBatchFits(model, o.evalBatchSize, longestRow(options.evalData.examples), 'evalBatchSize');
  const rt = model.rt;
  const store = adapters.store;
  checkPooling(model, adapters);
  const base = await baseFingerprint(model);
  if (adapters.base && adapters.base !== base) {
    throw new TrainingError(`train: these adapters were trained on another base (fingerprint ${adapters.base.slice(0, 12)}…, this model's ${base.slice(0, 12)}…)`);
  }
  model.ropeFor(longest);
  const schedule = { kind: o.schedule, lr: o.lr, warmupSteps: o.warmupSteps, totalSteps: o.steps };
  const stream = new BatchStream(data.examples, o.seed);
  for (let s = 0; s < o.startStep * o.gradientAccumulation; s++) stream.next(o.batchSize); // the rows already trained on
  const owned: Tensor[] = [];
  const make = (shape: number[], label: string) => {
    const t = rt.tensor(shape, 'f32', label);
    owned.push(t);
    return t;
  };
  let reports: Tensor[], health: Tensor, partials: Tensor, microLosses: Tensor;
  try {
    reports = [make([4], 'step report 0'), make([4], 'step report 1')];
    health = make([1], 'training health');
    rt.write(health, new Float32Array(1));
    partials = make(adamwPartialsShape(), 'grad norm partials');
    // One loss slot per micro-batch, SLOT floats apart (storage views must start at the offset alignment); the gaps
    // stay zero, so one row sum over the whole tensor adds the slots.
    microLosses = make([o.gradientAccumulation * lossSlot(rt)], 'micro-batch losses');
    rt.write(microLosses, new Float32Array(o.gradientAccumulation * lossSlot(rt)));
  } catch (e) {
    rt.free(...owned);
    throw e;
  }
  const previous = model.adapters;
  model.adapters = adapters;
  const history: TrainResult = { steps: [], evals: [], stopped: 'completed' };
  const started = performance.now();
  let previousDone = -Infinity;
  type Pending = { step: number; read: Promise<{ report: Float32Array; doneAt: number }>; recordStart: number; micro: CollatedBatch[]; scored: number; tokens: number; lr: number };
  let pending: Pending | null = null;

  const record = async (stepIndex: number, micro: CollatedBatch[], scored: number, lr: number, report: Tensor, diagnose = false) => {
    const step = rt.step();
    for (const [m, batch] of micro.entries()) {
      await recordTrainingPass(model, step, batch, {
        backward: true, lossScale: 1 / scored, checkpointing: o.checkpointing, seed: mix(o.seed, stepIndex, m),
        firstMicroBatch: m === 0, lossSum: slotView(microLosses, m, lossSlot(rt)),
      });
    }
    await rowSum(rt, step, { ...microLosses, shape: [1, numel(microLosses.shape)] }, { ...report, shape: [1] });
    if (!diagnose) {
      await adamwStep(rt, step, { ...store.buffers, report, health, partials }, {
        lr, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm, step: stepIndex,
      });
      // The sticky flag as this step left it, into the step's own report: read later, the flag itself may already
      // carry a later step's failure.
      step.copy({ ...health, shape: [1] }, { ...report, shape: [1], byteOffset: report.byteOffset + 12 }, 4);
    }
    step.submit();
  };

  /** Re-runs a failed step's forward and backward (the adapters are as before it) to name its first non-finite tensor. */
  const diagnose = async (p: Pending): Promise<never> => {
    await record(p.step, p.micro, p.scored, p.lr, reports[0], true);
    const loss = ((await rt.read(reports[0])) as Float32Array)[0];
    let tensor = 'loss';
    if (Number.isFinite(loss)) {
      const grads = (await rt.read(store.buffers.grads)) as Float32Array;
      const at = grads.findIndex((g) => !Number.isFinite(g));
      tensor = at >= 0 ? `${store.nameAt(at)} (gradient)` : 'gradient norm (overflow)';
    }
    // On the f16 matrix path rows are scaled into f16's range, so only a decoded weight beyond it (|ŵ| > 65504) can
    // overflow there: say how to rule the path out.
    const f16 = rt.capabilities.matmul.kind === 'f16-matrix' ? "; the base's matmuls ran in f16 on the matrix units: precision 'f32' rules them out" : '';
    throw new TrainingError(`train: step ${p.step} went non-finite at ${tensor} (loss ${loss}); the adapters hold step ${p.step - 1}${f16}`, p.step, tensor);
  };

  const divergence = new DivergenceWatch(model.config.vocabSize);
  const finish = async (p: Pending) => {
    const { report: [lossSum, gradNorm, , h], doneAt } = await p.read;
    if (h !== 0) await diagnose(p);
    const rise = options.stopOnDivergence === false ? null : divergence.add(p.step, lossSum / p.scored);
    if (rise) {
      // The update of step p (and of the step in flight after it) went through: say what the adapters hold.
      let held = p.step;
      if (pending && pending !== p) held = (await pending.read).report[3] === 0 ? pending.step : p.step;
      pending = null;
      adapters.trainedSteps = held;
      throw new TrainingError(
        `train: the loss exploded from step ${rise.from} (${rise.loss.toFixed(2)} nats at step ${p.step}, against ${rise.baseline.toFixed(2)} at the first step); ` +
        `the learning rate is likely too high. The adapters hold step ${held}; the last good state is step ${rise.from - 2} or earlier`,
        rise.from, 'loss', true,
      );
    }
    const ms = stepWallMs(p.recordStart, doneAt, previousDone);
    previousDone = doneAt;
    const info: StepInfo = {
      step: p.step, loss: lossSum / p.scored, lr: p.lr, gradNorm, tokensPerSecond: p.tokens / (ms / 1e3), stepMs: ms, elapsedMs: doneAt - started,
    };
    adapters.base = base;
    adapters.trainedSteps = p.step;
    history.steps.push(info);
    options.onStep?.(info);
  };

  const evalDue = (step: number) => !!options.evalData && ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps);
  const evaluateAt = async (step: number) => {
    const e = await evaluate(model, options.evalData!, { batchSize: o.evalBatchSize || evalRows(model, options.evalData!, o.batchSize) });
    const evalInfo = { step, ...e };
    history.evals.push(evalInfo);
    options.onEval?.(evalInfo);
  };

  /** True (and the run marked aborted) once the caller asked to stop. */
  const stopping = () => {
    if (options.signal?.aborted) history.stopped = 'aborted';
    return history.stopped === 'aborted';
  };
  try {
    const every = options.checkpointEvery ?? 0;
    const checkpointDue = (step: number) => !!options.onCheckpoint && every > 0 && step > o.startStep && step % every === 0;
    let checkpointed = o.startStep;
    for (let s = o.startStep + 1; s <= o.steps; s++) {
      if (stopping()) break;
      // An evaluation or a checkpoint after step s − 1 must see exactly its adapters: drain the pipeline first, so
      // that step s is not yet submitted while they read them.
      if (s - 1 > o.startStep && (evalDue(s - 1) || checkpointDue(s - 1))) {
        if (pending) await finish(pending);
        pending = null;
        if (evalDue(s - 1)) await evaluateAt(s - 1);
        if (checkpointDue(s - 1)) {
          await options.onCheckpoint!(s - 1);
          checkpointed = s - 1;
        }
        // They can take long: a stop that came meanwhile ends the run here, before another step starts.
        if (stopping()) break;
      }
      const micro = Array.from({ length: o.gradientAccumulation }, () => collate(stream.next(o.batchSize)));
      const scored = micro.reduce((a, b) => a + b.scored, 0);
      const tokens = micro.reduce((a, b) => a + b.realTokens, 0);
      const lr = learningRate(schedule, s - 1);
      const report = reports[s % 2];
      const recordStart = performance.now();
      await record(s, micro, scored, lr, report);
      const read = (rt.read(report) as Promise<Float32Array>).then((r) => ({ report: r, doneAt: performance.now() }));
      const before = pending;
      pending = { step: s, read, recordStart, micro, scored, tokens, lr }; // in flight while the one before finishes
      if (before) await finish(before);
    }
    if (pending) await finish(pending);
    pending = null;
    const last = history.steps.at(-1)?.step ?? o.startStep;
    if (last > o.startStep && evalDue(last) && history.evals.at(-1)?.step !== last) await evaluateAt(last);
    if (history.stopped === 'aborted' && options.onCheckpoint && last > checkpointed) await options.onCheckpoint(last);
    return history;
  } catch (e) {
    if (pending) await pending.read.catch(() => undefined);
    throw e;
  } finally {
    model.adapters = previous ?? adapters;
    rt.free(...owned);
  }
}
