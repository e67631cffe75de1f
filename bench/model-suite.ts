// End-to-end model benchmarks: decode and prefill tokens/s for a TinyLlama-1.1B-shaped model with seeded
// random weights (4-bit NF, G=64, batch 1), against the weight-bandwidth floor of decode and the f32 peak
// for prefill; and micro-llama-6m's full validation loss per corpus against its metrics.json.
import { readFileSync } from 'node:fs';
import type { Runtime, Tensor } from '../src/gpu';
import { byteLength } from '../src/gpu';
import {
  argmax, generateTokens, LlamaModel, pieces, loadTokenizer, nodeDirSource, parseLlamaConfig, perplexity, stackLinears, type LayerWeights, type LinearWeight,
  type LlamaConfig, type LlamaWeights, type WholeWeight,
} from '../src/model';
import { quantize, type QuantSpec } from '../src/quant';
import { readCorpus, splitCorpus } from './corpus';
import { seededUniforms, type BenchResult } from './harness';

const F32_PEAK = 67e12;

/** TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads, 4 KV heads, intermediate 5632, vocab 32000). */
export const TINYLLAMA = {
  model_type: 'llama', vocab_size: 32000, hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22,
  num_attention_heads: 32, num_key_value_heads: 4, rms_norm_eps: 1e-5, max_position_embeddings: 2048, rope_theta: 10000,
};
export const SMALL = { ...TINYLLAMA, vocab_size: 512, hidden_size: 128, intermediate_size: 256, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 };

/** Seeded random weights (std 0.02 linears, norms near 1), linears quantized on the GPU one at a time. */
export async function randomWeights(rt: Runtime, c: LlamaConfig, spec: QuantSpec): Promise<LlamaWeights> {
  let seed = 1;
  // Uniform in ±0.0346 has std 0.02; norms are uniform in 1 ± 0.1.
  const dense = (shape: number[], norm: boolean, label: string) =>
    rt.upload(seededUniforms(shape[0] * (shape[1] ?? 1), seed++, norm ? 0.9 : -0.0346, norm ? 1.1 : 0.0346), shape, label);
  const linear = async (out: number, inFeatures: number, name: string): Promise<LinearWeight> => {
    const w = dense([out, inFeatures], false, name);
    const weight = await quantize(rt, w, spec, name);
    rt.free(w);
    return { kind: 'quantized', name, out, in: inFeatures, weight };
  };
  const [H, qd, kvd, I] = [c.hiddenSize, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediateSize];
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.layers; l++) {
    layers.push({
      inputNorm: dense([H], true, 'norm'), postNorm: dense([H], true, 'norm'),
      q: await linear(qd, H, `q${l}`), k: await linear(kvd, H, `k${l}`), v: await linear(kvd, H, `v${l}`), o: await linear(H, qd, `o${l}`),
      gate: await linear(I, H, `gate${l}`), up: await linear(I, H, `up${l}`), down: await linear(H, I, `down${l}`),
    });
  }
  const embed: LinearWeight = { kind: 'dense', name: 'embed', out: c.vocabSize, in: H, weight: dense([c.vocabSize, H], false, 'embed') };
  const lmHead: LinearWeight = { kind: 'dense', name: 'lm_head', out: c.vocabSize, in: H, weight: dense([c.vocabSize, H], false, 'lm_head') };
  await rt.sync();
  return { config: c, embed, layers, norm: dense([H], true, 'norm'), lmHead };
}

function linearBytes(w: LinearWeight): number {
  return pieces(w).reduce((a, { part }) => a + (part.kind === 'dense' ? byteLength(part.weight)
    : byteLength(part.weight.codes) + byteLength(part.weight.stats) + (part.weight.statBlocks ? byteLength(part.weight.statBlocks) : 0)), 0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function decodeAndPrefill(rt: Runtime, model: LlamaModel, label: string, bandwidth: number, scale: 'gpu' | 'cpu', log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const c = model.config;
  const w = model.weights;
  const weightBytes = w.layers.reduce((a, l) => a + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce((b, x) => b + linearBytes(x), 0), 0) + linearBytes(w.lmHead);
  const linearParams = c.layers * (c.hiddenSize * (2 * c.heads * c.headDim + 2 * c.kvHeads * c.headDim) + 3 * c.hiddenSize * c.intermediateSize) + c.vocabSize * c.hiddenSize;
  const results: BenchResult[] = [];
  const push = (r: BenchResult) => (results.push(r), log(r));

  // Decode: 16-token prompt, 8 warm-up steps, then timed steps, each a forward, a logits read and an argmax.
  const steps = scale === 'gpu' ? 64 : 8;
  const cache = model.createCache(1, 16 + 8 + steps + 1);
  let logits = await model.forward({ ids: Array.from({ length: 16 }, (_, i) => (i * 37) % c.vocabSize), batch: 1 }, cache, { logits: 'last' });
  const times: number[] = [];
  const recordTimes: number[] = [];
  for (let i = 0; i < 8 + steps; i++) {
    const t0 = performance.now();
    const next = argmax((await rt.read(logits)) as Float32Array);
    rt.free(logits);
    const t1 = performance.now();
    logits = await model.forward({ ids: [next], batch: 1 }, cache, { logits: 'last' });
    const t2 = performance.now();
    await rt.sync();
    if (i >= 8) {
      times.push((performance.now() - t0) / 1e3);
      recordTimes.push((t2 - t1) / 1e3);
    }
  }
  // What a step costs the CPU as decode runs it: forward() records every dispatch and submits, then returns.
  const recording = median(recordTimes);
  // One more decode step and one prefill with per-dispatch timestamps: where the time goes.
  const profile = (what: string) => (timings: { label: string; ns: number }[], recordSeconds: number) => {
    const byKernel = new Map<string, number>();
    for (const t of timings) {
      const key = t.label.split(' ').slice(0, t.label.startsWith('gemv') ? 2 : 1).join(' ').replace(/\d+$/, '');
      byKernel.set(key, (byKernel.get(key) ?? 0) + t.ns / 1e3);
    }
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    if (what.startsWith('decode')) {
      const shape = `batch 1, ${timings.length} dispatches`;
      push({ name: `decode step GPU time, sum of per-dispatch timestamps, ${label}`, shape, value: total / 1e3, unit: 'ms', ceiling: null, ratio: null, seconds: total / 1e6, timing: 'timestamp' });
      // Profiling puts every dispatch in a pass of its own with timestamp writes, which costs the CPU more than an
      // unprofiled step does (the row after this one: what decode pays).
      push({ name: `decode step recording (CPU, profiled), ${label}`, shape, value: recordSeconds * 1e3, unit: 'ms', ceiling: null, ratio: null, seconds: recordSeconds, timing: 'wall' });
      push({ name: `decode step record + submit (CPU, unprofiled), ${label}`, shape, value: recording * 1e3, unit: 'ms', ceiling: null, ratio: null, seconds: recording, timing: 'wall' });
    }
    console.log(`  ${what}: ${timings.length} dispatches, recording ${(recordSeconds * 1e3).toFixed(2)} ms (CPU), GPU sum ${(total / 1e3).toFixed(2)} ms: ` +
      [...byKernel].sort((a, b) => b[1] - a[1]).map(([k, us]) => `${k} ${(us / 1e3).toFixed(2)} ms`).join(', '));
  };
  rt.free(logits);
  logits = await model.forward({ ids: [1], batch: 1 }, cache, { logits: 'last', onTimings: profile(`decode ${label}`) });
  rt.free(logits);
  model.freeCache(cache);
  const perToken = median(times);
  const floor = weightBytes / bandwidth;
  push({ name: `decode ${label}`, shape: `batch 1, ${(weightBytes / 1e6).toFixed(1)} MB of weights per token`, value: 1 / perToken, unit: 'tokens/s',
    ceiling: 1 / floor, ratio: floor / perToken, seconds: perToken, timing: 'wall' });

  // The library's greedy generation (argmax on the GPU, next step submitted before the token is read):
  // per-token time from the difference of a long and a short run, so the prefill cancels.
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 37) % c.vocabSize);
  const run = async (n: number) => {
    const t0 = performance.now();
    await generateTokens(model, prompt, { maxNewTokens: n, stopTokenIds: [] });
    return (performance.now() - t0) / 1e3;
  };
  await run(8);
  const [short, long] = [Math.min(await run(8), await run(8)), Math.min(await run(8 + steps), await run(8 + steps))];
  const generated = (long - short) / steps;
  push({ name: `generateTokens greedy ${label}`, shape: `batch 1, ${(weightBytes / 1e6).toFixed(1)} MB of weights per token`, value: 1 / generated, unit: 'tokens/s',
    ceiling: 1 / floor, ratio: floor / generated, seconds: generated, timing: 'wall' });

  // Prefill: one forward over T tokens (logits of the last only).
  const T = scale === 'gpu' ? 512 : 32;
  const prefillTimes: number[] = [];
  for (let i = 0; i < (scale === 'gpu' ? 5 : 2); i++) {
    const cache = model.createCache(1, T);
    await rt.sync();
    const t0 = performance.now();
    const l = await model.forward({ ids: Array.from({ length: T }, (_, j) => (j * 91) % c.vocabSize), batch: 1 }, cache, { logits: 'last' });
    await rt.read(l);
    prefillTimes.push((performance.now() - t0) / 1e3);
    rt.free(l);
    model.freeCache(cache);
  }
  {
    const cache = model.createCache(1, T);
    rt.free(await model.forward({ ids: Array.from({ length: T }, (_, j) => (j * 91) % c.vocabSize), batch: 1 }, cache, { logits: 'last', onTimings: profile(`prefill ${label}`) }));
    model.freeCache(cache);
  }
  const t = median(prefillTimes);
  const flops = 2 * linearParams * T;
  push({ name: `prefill ${label}`, shape: `batch 1 × ${T} tokens, ${(flops / 1e9).toFixed(1)} GFLOP in linears`, value: T / t, unit: 'tokens/s',
    ceiling: F32_PEAK / (2 * linearParams), ratio: flops / t / F32_PEAK, seconds: t, timing: 'wall' });
  return results;
}

/** `copyGBs`: the measured copy bandwidth in GB/s, the decode floor's denominator (3000 GB/s if unknown). */
export async function runModelSuite(rt: Runtime, scale: 'gpu' | 'cpu', copyGBs: number | null, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const bandwidth = (copyGBs ?? 3000) * 1e9;
  const config = parseLlamaConfig(scale === 'gpu' ? TINYLLAMA : SMALL);
  const spec: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' };
  const t0 = performance.now();
  const weights = await randomWeights(rt, config, spec);
  console.log(`random ${scale === 'gpu' ? 'TinyLlama-1.1B' : 'small'}-shaped model built and quantized in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const model = LlamaModel.fromWeights(rt, weights);
  const name = scale === 'gpu' ? 'TinyLlama-1.1B shape' : 'small llama';
  // The LM head quantized too (the f32 head is a quarter of the decode bytes). q/k/v and gate/up as separate
  // weights against the same weights stacked as the loader does by default (one launch per set), alternated
  // twice: this suite does not ramp clocks, and recording gets faster as the JIT warms up.
  const quantizedHead = async (w: LlamaWeights, s = spec): Promise<LinearWeight> =>
    ({ kind: 'quantized', name: 'lm_head', out: config.vocabSize, in: config.hiddenSize, weight: await quantize(rt, (w.lmHead as WholeWeight).weight as Tensor, s, 'lm_head') });
  const f32Head = weights.lmHead;
  weights.lmHead = await quantizedHead(weights);
  const stackedWeights = await randomWeights(rt, config, spec); // the same seeds: the same weights
  const stackedF32Head = stackedWeights.lmHead;
  stackedWeights.lmHead = await quantizedHead(stackedWeights);
  rt.free((stackedF32Head as WholeWeight).weight as Tensor);
  stackLinears(rt, stackedWeights);
  const stacked = LlamaModel.fromWeights(rt, stackedWeights);
  const results: BenchResult[] = [];
  for (const run of [1, 2]) {
    results.push(...(await decodeAndPrefill(rt, model, `${name}, nf4 G64, nf4 LM head, q/k/v and gate/up separate, A/B ${run}`, bandwidth, scale, log)));
    results.push(...(await decodeAndPrefill(rt, stacked, `${name}, nf4 G64, nf4 LM head, A/B ${run}`, bandwidth, scale, log)));
  }
  model.dispose();
  const nf4Head = stackedWeights.lmHead;
  stackedWeights.lmHead = f32Head;
  results.push(...(await decodeAndPrefill(rt, stacked, `${name}, nf4 G64, f32 LM head`, bandwidth, scale, log)));
  stackedWeights.lmHead = nf4Head;
  rt.free((f32Head as WholeWeight).weight as Tensor);
  stacked.dispose();
  // Double-quantized statistics (8-bit), LM head included: fewer bytes per token.
  const dqSpec: QuantSpec = { ...spec, doubleQuant: true };
  const dqWeights = await randomWeights(rt, config, dqSpec);
  const dqHead = dqWeights.lmHead;
  dqWeights.lmHead = await quantizedHead(dqWeights, dqSpec);
  rt.free((dqHead as WholeWeight).weight as Tensor);
  stackLinears(rt, dqWeights);
  const dqModel = LlamaModel.fromWeights(rt, dqWeights);
  results.push(...(await decodeAndPrefill(rt, dqModel, `${name}, nf4 G64 DQ, nf4 DQ LM head`, bandwidth, scale, log)));
  dqModel.dispose();
  return results;
}

export interface CorpusLoss {
  corpus: string;
  tokens: number;
  windows: number;
  meanOfWindowMeans: number;
  reference: number;
  difference: number;
  seconds: number;
}

/** micro-llama-6m's validation loss per corpus: non-overlapping 256-token windows, the mean of window means. */
export async function microLlamaLoss(rt: Runtime, modelDir: string, dataDir: string): Promise<CorpusLoss[]> {
  const source = await nodeDirSource(modelDir);
  const model = await LlamaModel.load(rt, source);
  const tokenizer = await loadTokenizer(source);
  const reference = JSON.parse(readFileSync(`${modelDir}/metrics.json`, 'utf8')).valid_loss_f32_after_bf16_save as Record<string, number>;
  const out: CorpusLoss[] = [];
  for (const corpus of Object.keys(reference)) {
    const ids = tokenizer.encode(splitCorpus(readCorpus(dataDir, corpus)).validation);
    const t0 = performance.now();
    const r = await perplexity(model, ids, { window: 256, fullWindowsOnly: true });
    const seconds = (performance.now() - t0) / 1e3;
    const meanOfWindowMeans = r.windows.reduce((a, w) => a + w.loss / w.tokens, 0) / r.windows.length;
    out.push({ corpus, tokens: ids.length, windows: r.windows.length, meanOfWindowMeans, reference: reference[corpus], difference: meanOfWindowMeans - reference[corpus], seconds });
    console.log(`micro-llama-6m ${corpus}: ${ids.length} tokens, ${r.windows.length} windows, loss ${meanOfWindowMeans.toFixed(6)} vs ${reference[corpus].toFixed(6)} (Δ ${(meanOfWindowMeans - reference[corpus]).toExponential(2)}) in ${seconds.toFixed(2)} s`);
  }
  model.dispose();
  return out;
}
