// Training benchmarks (BENCH_SUITES=train, finetune):
//   train     tokens/s and peak GPU buffer bytes of LoRA training steps on the TinyLlama-1.1B shape (seeded random
//             weights, nf4 G64, LoRA r 16 on all seven linears, seq 512, batch 1 and 4, with and without
//             checkpointing; a small shape on CPU adapters), and where one step's GPU time goes, per kernel family.
//   finetune  micro-llama-6m (nf4 G64 base, LoRA r 16 on all linears) trained on the Shakespeare train split; the
//             validation loss before and after by metrics.json's protocol, and the learning curve.
import { AdapterSet } from '../src/adapters';
import { Step, type Runtime } from '../src/gpu';
import { LlamaModel, loadTokenizer, nodeDirSource, parseLlamaConfig, perplexity, recordTrainingPass } from '../src/model';
import type { QuantSpec } from '../src/quant';
import { collate, splitDataset, textDataset, train, type Example } from '../src/train';
import { readCorpus, splitCorpus } from './corpus';
import type { BenchResult } from './harness';
import { randomWeights, SMALL, TINYLLAMA } from './model-suite';

export interface TrainBenchRow {
  name: string;
  batch: number;
  seq: number;
  checkpointing: boolean;
  tokensPerSecond: number;
  msPerStep: number;
  /** Every GPU buffer the pool holds after the steps (weights included): the peak, since the pool frees nothing. */
  peakBytes: number;
  /** Of which the frozen model's weights. */
  weightBytes: number;
}

export interface KernelShare {
  family: string;
  ms: number;
  dispatches: number;
}

/** A dispatch label's family: its words without numbers ('attention dq 1x512x32' → 'attention dq'); matmuls with a
 *  dimension of the LoRA rank are the adapters' ('matmul (LoRA)'). */
function family(label: string, rank: number): string {
  const words = label.split(' ');
  const name = words.filter((w) => !/\d/.test(w)).join(' ') || label;
  const dims = words.flatMap((w) => (/^\d+(x\d+)+$/.test(w) ? w.split('x').map(Number) : []));
  return name === 'matmul' && dims.includes(rank) ? 'matmul (LoRA)' : name;
}

export function randomRows(count: number, seq: number, vocab: number, seed: number): Example[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    const ids = Array.from({ length: seq }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s % vocab;
    });
    return { ids, labels: ids.slice() };
  });
}

/** Wall time per step over `timed` steps after two warm-up steps (which compile pipelines and grow the pool), and
 *  the pool's bytes afterwards (trimmed first, so this set's peak). */
async function timeSteps(model: LlamaModel, name: string, create: (m: LlamaModel) => AdapterSet, batch: number, seq: number, checkpointing: boolean, timed: number, weightBytes: number): Promise<TrainBenchRow> {
  const rt = model.rt;
  rt.pool.trim();
  const adapters = create(model);
  const data = { name: 'random', examples: randomRows(batch * (timed + 2), seq, model.config.vocabSize, 7), dropped: 0 };
  const result = await train(model, adapters, data, { steps: timed + 2, batchSize: batch, lr: 1e-4, checkpointing });
  const ms = (result.steps[result.steps.length - 1].elapsedMs - result.steps[1].elapsedMs) / timed;
  adapters.dispose();
  return { name, batch, seq, checkpointing, tokensPerSecond: (batch * seq) / (ms / 1e3), msPerStep: ms, peakBytes: rt.pool.stats.bytesAllocated, weightBytes };
}

/** Each method's step time and peak bytes on the TinyLlama-1.1B shape over one int4 G64 base
 *  (batch 1 × 512, no checkpointing), r 16 on all linears; IEC's and the pooling's cost are the differences. */
export async function runMethodsCost(rt: Runtime, scale: 'gpu' | 'cpu', log: (r: BenchResult) => void): Promise<TrainBenchRow[]> {
  const config = parseLlamaConfig(scale === 'gpu' ? TINYLLAMA : SMALL);
  const seq = scale === 'gpu' ? 512 : 64;
  const weights = await randomWeights(rt, config, { codebook: 'int', bits: 4, groupSize: 64, calibrate: 'none' });
  const model = LlamaModel.fromWeights(rt, weights);
  model.ropeFor(seq);
  const weightBytes = rt.pool.stats.bytesInUse;
  const lora = { rank: 16, alpha: 16 };
  const variants: [string, (m: LlamaModel) => AdapterSet][] = [
    ['QLoRA (LoRA)', (m) => AdapterSet.lora(rt, m.adaptableLinears(), lora)],
    ['IR-QLoRA (LoRA + IEC)', (m) => AdapterSet.lora(rt, m.adaptableLinears(), { ...lora, iec: true })],
    ['QA-LoRA G64', (m) => AdapterSet.qaLora(rt, m.adaptableLinears(), { ...lora, groupSize: 64 })],
    ['IR-QA-LoRA G64 (QA-LoRA + IEC)', (m) => AdapterSet.qaLora(rt, m.adaptableLinears(), { ...lora, groupSize: 64, iec: true })],
    ['Q-BLoRA', (m) => AdapterSet.blora(rt, m.adaptableLinears(), { ...lora, form: 'q-blora' })],
    ['QA-BLoRA (ours) G64', (m) => AdapterSet.blora(rt, m.adaptableLinears(), { ...lora, form: 'qa-blora', groupSize: 64 })],
    ['QA-BLoRA (authors)', (m) => AdapterSet.blora(rt, m.adaptableLinears(), { ...lora, form: 'qa-blora-authors' })],
  ];
  const rows: TrainBenchRow[] = [];
  // Twice through, interleaved, so drift (clocks, the pool) shows as a spread between the two passes.
  for (const pass of [1, 2]) {
    for (const [variant, create] of variants) {
      const row = await timeSteps(model, `${variant}, pass ${pass}`, create, 1, seq, false, scale === 'gpu' ? 8 : 1, weightBytes);
      rows.push(row);
      log({
        name: `train ${scale === 'gpu' ? 'TinyLlama-1.1B shape' : 'small llama'}, int4 G64, ${row.name}; peak GPU buffers ${(row.peakBytes / 2 ** 30).toFixed(3)} GiB`,
        shape: `1x${seq}`, value: row.msPerStep, unit: 'ms/step', ceiling: null, ratio: null, seconds: row.msPerStep / 1e3, timing: 'wall',
      });
    }
  }
  model.dispose();
  return rows;
}

export async function runTrainingBench(rt: Runtime, scale: 'gpu' | 'cpu', log: (r: BenchResult) => void): Promise<{ rows: TrainBenchRow[]; kernels: KernelShare[] }> {
  const config = parseLlamaConfig(scale === 'gpu' ? TINYLLAMA : SMALL);
  if (config.layers < 2) throw new Error('the training bench profiles two layers');
  const spec: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' };
  const name = scale === 'gpu' ? 'TinyLlama-1.1B shape' : 'small llama';
  const seq = scale === 'gpu' ? 512 : 64;
  const weights = await randomWeights(rt, config, spec);
  const model = LlamaModel.fromWeights(rt, weights);
  model.ropeFor(seq);
  const weightBytes = rt.pool.stats.bytesInUse;
  const rows: TrainBenchRow[] = [];
  const timedSteps = scale === 'gpu' ? 6 : 1;
  for (const batch of [1, 4]) {
    for (const checkpointing of [false, true]) {
      const row = await timeSteps(model, name, (m) => AdapterSet.lora(rt, m.adaptableLinears(), { rank: 16, alpha: 16 }), batch, seq, checkpointing, timedSteps, weightBytes);
      rows.push(row);
      log({
        name: `train ${name}, nf4 G64, LoRA r16 all linears${checkpointing ? ', checkpointing' : ''}; peak GPU buffers ${(row.peakBytes / 2 ** 30).toFixed(2)} GiB (weights ${(weightBytes / 2 ** 30).toFixed(2)})`,
        shape: `${batch}x${seq}`, value: row.tokensPerSecond, unit: 'tokens/s', ceiling: null, ratio: null, seconds: row.msPerStep / 1e3, timing: 'wall',
      });
    }
  }
  // One step of batch 1 on the first two layers (a step may time at most 2048 passes), every dispatch timed (each
  // in its own pass, so the sum exceeds the unprofiled step): per layer and the head once.
  const kernels: KernelShare[] = [];
  if (rt.canProfile) {
    const slice = LlamaModel.fromWeights(rt, { ...weights, config: { ...config, layers: 2 }, layers: weights.layers.slice(0, 2) });
    const adapters = AdapterSet.lora(rt, slice.adaptableLinears(), { rank: 16, alpha: 16 });
    slice.adapters = adapters;
    const batch = collate(randomRows(1, seq, config.vocabSize, 9));
    const lossSum = rt.tensor([1], 'f32', 'loss');
    for (const profiled of [false, true]) {
      const step = profiled ? new Step(rt, 'dispatch', 2048) : rt.step();
      await recordTrainingPass(slice, step, batch, { backward: true, lossScale: 1 / batch.scored, checkpointing: false, seed: 1, firstMicroBatch: true, lossSum });
      step.submit();
      if (profiled) {
        const byFamily = new Map<string, KernelShare>();
        for (const t of await step.timings()) {
          const f = family(t.label, 16);
          const k = byFamily.get(f) ?? { family: f, ms: 0, dispatches: 0 };
          k.ms += t.ns / 1e6;
          k.dispatches++;
          byFamily.set(f, k);
        }
        kernels.push(...[...byFamily.values()].sort((a, b) => b.ms - a.ms));
      }
      await rt.sync();
    }
    const total = kernels.reduce((a, k) => a + k.ms, 0);
    for (const k of kernels) console.log(`  ${k.family.padEnd(28)} ${k.ms.toFixed(2).padStart(9)} ms ${((100 * k.ms) / total).toFixed(1).padStart(5)} %  ${k.dispatches} dispatches`);
    rt.free(lossSum);
    adapters.dispose();
  }
  model.dispose();
  return { rows, kernels };
}

export interface FinetuneReport {
  command: string;
  seed: number;
  options: Record<string, unknown>;
  quant: QuantSpec;
  lora: Record<string, unknown>;
  trainTokens: number;
  before: { loss: number; perplexity: number; tokens: number };
  after: { loss: number; perplexity: number; tokens: number };
  curve: { step: number; loss: number; lr: number; gradNorm: number; tokensPerSecond: number }[];
  evals: { step: number; loss: number }[];
  seconds: number;
}

/** micro-llama-6m fine-tuned on Shakespeare's train split (the first 90 % of the file, cut at a newline). */
/** `validTokens` cuts the validation split short (a smoke test on a CPU adapter); default: all of it. */
export async function runMicroFinetune(rt: Runtime, modelDir: string, dataDir: string, steps: number, validTokens = Infinity): Promise<FinetuneReport> {
  const source = await nodeDirSource(modelDir);
  const quant: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' };
  const model = await LlamaModel.load(rt, source, { quant });
  const tokenizer = await loadTokenizer(source);
  const split = splitCorpus(readCorpus(dataDir, 'tinyshakespeare'));
  const validIds = tokenizer.encode(split.validation).slice(0, validTokens);
  const window = 256;
  const score = async () => {
    const r = await perplexity(model, validIds, { window, fullWindowsOnly: true });
    const loss = r.windows.reduce((a, w) => a + w.loss / w.tokens, 0) / r.windows.length; // metrics.json's mean of window means
    return { loss, perplexity: Math.exp(loss), tokens: r.tokens };
  };
  const before = await score();
  console.log(`micro-llama-6m nf4 G64, Shakespeare validation before: loss ${before.loss.toFixed(4)} (ppl ${before.perplexity.toFixed(2)})`);
  const trainText = textDataset(tokenizer, split.train, { seqLen: window, name: 'tinyshakespeare train' });
  // A held-out slice of the train split for the learning curve (the validation split stays untouched until the end).
  const { train: trainData, validation: curveData } = splitDataset(trainText, 32, 1);
  const lora = { rank: 16, alpha: 16, dropout: 0.05, seed: 0 };
  const adapters = AdapterSet.lora(rt, model.adaptableLinears(), lora);
  const options = { steps, batchSize: 8, lr: 1e-3, schedule: 'cosine' as const, warmupSteps: 20, weightDecay: 0, maxGradNorm: 1, seed: 0, evalEvery: 50 };
  const t0 = performance.now();
  const result = await train(model, adapters, trainData, {
    ...options, evalData: curveData,
    onStep: (s) => { if (s.step % 25 === 0) console.log(`step ${s.step}: loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} |g| ${s.gradNorm.toFixed(3)} ${s.tokensPerSecond.toFixed(0)} tok/s`); },
    onEval: (e) => console.log(`  eval @${e.step}: ${e.loss.toFixed(4)}`),
  });
  const seconds = (performance.now() - t0) / 1e3;
  model.adapters = adapters;
  const after = await score();
  console.log(`after ${steps} steps (${seconds.toFixed(1)} s): loss ${after.loss.toFixed(4)} (ppl ${after.perplexity.toFixed(2)})`);
  adapters.dispose();
  model.adapters = null;
  model.dispose();
  return {
    command: 'BENCH_SUITES=finetune node .device/bench.mjs out.json (MICRO_LLAMA_DIR, CORPUS_DIR set)', seed: 0, options, quant, lora,
    trainTokens: trainData.examples.reduce((a, e) => a + e.ids.length, 0), before, after,
    curve: result.steps.map(({ step, loss, lr, gradNorm, tokensPerSecond }) => ({ step, loss, lr, gradNorm, tokensPerSecond })),
    evals: result.evals.map(({ step, loss }) => ({ step, loss })), seconds,
  };
}
