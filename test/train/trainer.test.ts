// The trainer's behaviour beyond parity: a falling loss, pipelined step reports, abort, non-finite steps, bad
// options, and the GPU pool back at its baseline after every failure.
import { describe, expect, it } from 'vitest';
import { AdapterSet, LlamaModel, collate, evaluate, recordTrainingPass, train } from '../../src/runtime';
import { TrainingError, tokenizedDataset } from '../../src';
import { DivergenceWatch, stepWallMs } from '../../src/train/trainer';
import { etaStepMs } from '../../src/worker/engine';
import { relativeError } from '../helpers/gpu';
import { testRuntime } from '../helpers/gpu';
import { fixtureSource } from '../helpers/model-files';

function rows(count: number, seq: number, seed: number) {
  return Array.from({ length: count }, (_, r) => ({ input_ids: Array.from({ length: seq - (r % 3) }, (_, t) => 3 + ((seed + r * 31 + t * 7) % 200)) }));
}

async function setup() {
  const rt = await testRuntime();
  const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' } });
  model.ropeFor(model.config.maxPositions);
  return { rt, model };
}

describe('train', () => {
  it('lowers the loss on a small dataset over a quantized base, reporting every step and the evaluation', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 8, alpha: 16, dropout: 0.1, seed: 3 });
    const data = tokenizedDataset(rows(4, 16, 1), { seqLen: 16 });
    const before = await evaluate((model.adapters = adapters, model), data);
    const seen: number[] = [];
    const result = await train(model, adapters, data, {
      steps: 8, batchSize: 2, gradientAccumulation: 2, lr: 2e-2, schedule: 'cosine', warmupSteps: 2, evalData: data, evalEvery: 4,
      onStep: (s) => seen.push(s.step),
    });
    expect(seen).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
    expect(result.stopped).toBe('completed');
    expect(result.evals.map((e) => e.step)).toEqual([4, 8]);
    expect(result.steps.every((s) => Number.isFinite(s.loss) && s.gradNorm > 0 && s.tokensPerSecond > 0)).toBe(true);
    expect(result.evals[1].loss).toBeLessThan(before.loss - 0.5);
    expect(result.steps[7].lr).toBeCloseTo(2e-2 * 0.5 * (1 + Math.cos((5 / 6) * Math.PI)), 9); // HF: update s uses λ(s), s = 7 of 8
    adapters.dispose();
    // Training leaves its set attached: once disposed, running the model names that instead of a submit error.
    await expect(evaluate(model, data)).rejects.toThrow(/adapter set was disposed/);
    model.adapters = null;
    expect(Number.isFinite((await evaluate(model, data)).loss)).toBe(true);
    model.dispose();
  });

  it('micro-batches recorded into one step each see their own rows: two of one row give the gradient of one batch of two', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, seed: 1 });
    model.adapters = adapters;
    const data = tokenizedDataset(rows(2, 12, 6), { seqLen: 12 });
    await train(model, adapters, data, { steps: 1, batchSize: 2, lr: 1e-2 }); // B ≠ 0
    const both = collate(data.examples);
    const parts = data.examples.map((e) => collate([e]));
    const lossSum = rt.tensor([1], 'f32', 'loss');
    let step = rt.step();
    await recordTrainingPass(model, step, both, { backward: true, lossScale: 1 / both.scored, checkpointing: false, seed: 0, firstMicroBatch: true, lossSum });
    step.submit();
    const want = await adapters.store.read('grads');
    const wantLoss = ((await rt.read(lossSum)) as Float32Array)[0];
    step = rt.step();
    const sums = [rt.tensor([1], 'f32', 'loss 0'), rt.tensor([1], 'f32', 'loss 1')];
    for (const [i, batch] of parts.entries()) {
      await recordTrainingPass(model, step, batch, { backward: true, lossScale: 1 / both.scored, checkpointing: i === 1, seed: 0, firstMicroBatch: i === 0, lossSum: sums[i] });
    }
    step.submit();
    const got = await adapters.store.read('grads');
    for (const [k, g] of want) expect(relativeError(got.get(k)!, g), k).toBeLessThan(1e-5);
    const parts0 = ((await rt.read(sums[0])) as Float32Array)[0] + ((await rt.read(sums[1])) as Float32Array)[0];
    expect(Math.abs(parts0 - wantLoss) / wantLoss).toBeLessThan(1e-5);
    expect((await evaluate(model, data, { batchSize: 1 })).loss).toBeCloseTo(wantLoss / both.scored, 5);
    rt.free(lossSum, ...sums);
    adapters.dispose();
    model.dispose();
  });

  it('stops after the step in flight when aborted, and keeps what was trained', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4 });
    const controller = new AbortController();
    const result = await train(model, adapters, tokenizedDataset(rows(4, 16, 2), { seqLen: 16 }), {
      steps: 50, batchSize: 2, lr: 1e-2, signal: controller.signal, onStep: (s) => { if (s.step === 2) controller.abort(); },
    });
    expect(result.stopped).toBe('aborted');
    expect(result.steps.length).toBeGreaterThanOrEqual(2);
    expect(result.steps.length).toBeLessThanOrEqual(4);
    const b = await adapters.store.read();
    expect([...b].some(([k, v]) => k.includes('lora_B') && v.some((x) => x !== 0))).toBe(true);
    adapters.dispose();
    model.dispose();
  });

  it('a stop that comes during an evaluation ends the run there: no further step starts, even the last', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4 });
    const data = tokenizedDataset(rows(4, 16, 2), { seqLen: 16 });
    const controller = new AbortController();
    const result = await train(model, adapters, data, {
      steps: 3, batchSize: 2, lr: 1e-2, evalData: data, evalEvery: 2, signal: controller.signal, onEval: (e) => { if (e.step === 2) controller.abort(); },
    });
    expect(result.stopped).toBe('aborted');
    expect(result.steps.map((s) => s.step)).toEqual([1, 2]);
    expect(adapters.trainedSteps).toBe(2);
    adapters.dispose();
    model.dispose();
  });

  it('a non-finite step names the step and the tensor, leaves the adapters as of the last good step, and frees its buffers', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4 });
    const data = tokenizedDataset(rows(4, 16, 3), { seqLen: 16 });
    await train(model, adapters, data, { steps: 2, batchSize: 2, lr: 1e-2 });
    const good = await adapters.store.read();
    const baseline = rt.pool.stats.bytesInUse;
    // Poison one adapter value: every later loss is NaN.
    const name = adapters.store.names[5];
    const poisoned = new Float32Array(adapters.store.shape(name).reduce((a, b) => a * b, 1)).fill(Number.NaN);
    adapters.store.write(name, poisoned);
    const error = await train(model, adapters, data, { steps: 5, batchSize: 2, lr: 1e-2 }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainingError);
    expect(error.step).toBe(1);
    expect(error.tensor).toBe('loss');
    expect(error.message).toMatch(/step 1 went non-finite at loss/);
    adapters.store.write(name, good.get(name)!);
    const after = await adapters.store.read();
    for (const [k, v] of good) expect(after.get(k)).toEqual(v);
    expect(rt.pool.stats.bytesInUse).toBe(baseline);
    adapters.dispose();
    model.dispose();
  });

  it('evaluates at step k with the adapters of step k: each in-training evaluation equals a fresh run of k steps, bit for bit', async () => {
    const { rt, model } = await setup();
    const data = tokenizedDataset(rows(6, 16, 5), { seqLen: 16 });
    const evalData = tokenizedDataset(rows(3, 16, 9), { seqLen: 16 });
    const options = { batchSize: 2, lr: 5e-2, schedule: 'constant' as const, seed: 0, maxGradNorm: 0, evalBatchSize: 3 };
    const fresh = () => AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, seed: 11 });
    const adapters = fresh();
    const result = await train(model, adapters, data, { ...options, steps: 3, evalData, evalEvery: 1 });
    expect(result.evals.map((e) => e.step)).toEqual([1, 2, 3]);
    adapters.dispose();
    for (const k of [1, 2]) { // step 3, the last, was evaluated after the run even before
      const again = fresh();
      await train(model, again, data, { ...options, steps: k });
      model.adapters = again;
      const e = await evaluate(model, evalData, { batchSize: 3 });
      expect(result.evals[k - 1].loss, `step ${k}`).toBe(e.loss);
      again.dispose();
    }
    model.dispose();
  });

  it('a step\'s health is its own: a failure at step 2 is reported as step 2, with the adapters of step 1 kept', async () => {
    const { rt, model } = await setup();
    const data = tokenizedDataset(rows(4, 16, 3), { seqLen: 16 });
    // lr 1e30: step 1 is finite (AdamW moves each value by ~lr), step 2's forward overflows. Step 2 is already queued
    // when step 1's figures are read: step 1 must not be blamed for step 2's sticky flag.
    const options = { batchSize: 2, lr: 1e30, schedule: 'constant' as const, maxGradNorm: 0 };
    const one = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, seed: 2 });
    await train(model, one, data, { ...options, steps: 1 });
    const want = await one.store.read();
    one.dispose();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, seed: 2 });
    const seen: number[] = [];
    const error = await train(model, adapters, data, { ...options, steps: 4, onStep: (s) => seen.push(s.step) }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainingError);
    expect(error.step).toBe(2);
    expect(error.message).toMatch(/the adapters hold step 1/);
    expect(seen).toEqual([1]);
    expect(adapters.trainedSteps).toBe(1);
    const got = await adapters.store.read();
    for (const [k, v] of want) expect(got.get(k), k).toEqual(v);
    adapters.dispose();
    model.dispose();
  });

  it('times each step by what it did: a slow evaluation or onStep is not a step\'s time, nor is the last step free', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4 });
    const data = tokenizedDataset(rows(4, 16, 7), { seqLen: 16 });
    const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end); };
    const t0 = performance.now();
    const result = await train(model, adapters, data, {
      steps: 4, batchSize: 2, lr: 1e-2, evalData: data, evalEvery: 2, onStep: () => busy(400), onEval: () => busy(400),
    });
    const wall = performance.now() - t0;
    const ms = result.steps.map((s) => s.stepMs);
    for (const s of result.steps) {
      expect(s.stepMs).toBeGreaterThan(0);
      const tokens = s.tokensPerSecond * (s.stepMs / 1e3); // two rows of 14 to 16 tokens
      expect(Math.abs(tokens - Math.round(tokens))).toBeLessThan(1e-6);
      expect(Math.round(tokens)).toBeGreaterThanOrEqual(28);
      expect(Math.round(tokens)).toBeLessThanOrEqual(32);
    }
    // Every step but the first (which also builds kernels) within a factor of 10 of the median of steps 2..4:
    // the old figures (the last step counted as ~0 ms, a step holding the previous evaluation) fall outside.
    const rest = ms.slice(1).sort((a, b) => a - b);
    const median = rest[Math.floor(rest.length / 2)];
    for (const m of ms.slice(1)) {
      expect(m).toBeGreaterThan(median / 10);
      expect(m).toBeLessThan(median * 10 + 400);
    }
    // The steps' own times add up to less than the run minus the 400 ms waits (4 onStep + 2 evaluations).
    expect(ms.reduce((a, b) => a + b, 0)).toBeLessThan(wall - 6 * 400 + 50);
    expect(result.steps.map((s) => s.elapsedMs)).toEqual([...result.steps.map((s) => s.elapsedMs)].sort((a, b) => a - b));
    adapters.dispose();
    model.dispose();
  });

  it('a step starts at its recording or when the step before it finished on the GPU, whichever is later', () => {
    expect(stepWallMs(100, 180, -Infinity)).toBe(80); // first step: from its recording
    expect(stepWallMs(150, 260, 180)).toBe(80); // recorded while step 1 ran: from step 1's end
    expect(stepWallMs(900, 980, 260)).toBe(80); // recorded after an evaluation: from its recording
    expect(stepWallMs(100, 100, 120)).toBe(0);
    expect(etaStepMs([5000, 80, 90, 70])).toBe(80); // the first step (kernel builds) left out
    expect(etaStepMs([5000])).toBe(5000);
    expect(etaStepMs([...Array(20).fill(1000), ...Array(10).fill(10)])).toBe(10); // the last 10
  });

  it('calls an explosion after two steps over the line, from the first of them; one noisy step is none', () => {
    const run = (vocab: number, losses: number[]) => {
      const w = new DivergenceWatch(vocab);
      for (const [i, l] of losses.entries()) {
        const r = w.add(i + 1, l);
        if (r) return { at: i + 1, ...r };
      }
      return null;
    };
    const V = Math.exp(7.62); // ln V = 7.62, as the demo model's 2,048 tokens
    expect(run(V, [5.1, 4.8, 7.3, 4.5, 7.2, 4.0, 3.9])).toBeNull(); // single spikes
    expect(run(V, [5.1, 7.62, 7.62, 7.62])).toMatchObject({ at: 3, from: 2, baseline: 5.1 }); // lr 1e9: collapsed
    expect(run(V, [6.0, 7.62, 7.62])).toMatchObject({ at: 3, from: 2 }); // under b + 2, but uniform guessing
    expect(run(V, [3.0, 2.5, 5.2, 5.3])).toMatchObject({ at: 4, from: 3 }); // b + 2, far from uniform
    expect(run(V, [3.0, 2.5, 4.9, 4.9, 4.9])).toBeNull();
    expect(run(256, [5.55, 5.4, 6.1, 6.2])).toMatchObject({ from: 3 }); // a random-init model: b + 0.5
  });

  it('takes a dataset of 200,000 rows', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4 });
    const data = { name: 'many', examples: Array.from({ length: 200_000 }, (_, i) => ({ ids: [3 + (i % 50), 7, 9], labels: [3 + (i % 50), 7, 9] })), dropped: 0 };
    const result = await train(model, adapters, data, { steps: 1, batchSize: 2 });
    expect(result.steps).toHaveLength(1);
    adapters.dispose();
    model.dispose();
  });

  it('refuses bad options, rows longer than the model allows and tokens outside its vocabulary before anything runs', async () => {
    const { rt, model } = await setup();
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4 });
    const data = tokenizedDataset(rows(2, 8, 4), { seqLen: 8 });
    const baseline = rt.pool.stats.bytesInUse;
    await expect(train(model, adapters, data, { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
    await expect(train(model, adapters, data, { lr: -1 })).rejects.toThrow(/lr must be a number > 0/);
    // Finite in f64, not as the GPU holds them in f32: each refused before a step could leave NaN adapters.
    for (const [options, message] of [
      [{ lr: 1e39 }, /lr must be a number > 0 that f32 holds, got 1e\+39/],
      [{ lr: 1e-46 }, /lr must be a number > 0 that f32 holds/],
      [{ weightDecay: 1e39 }, /weightDecay must be a number/],
      [{ lr: 1e20, weightDecay: 1e20 }, /lr · weightDecay finite/],
      [{ eps: 1e-46 }, /eps must be a number > 0 that f32 holds/],
      [{ maxGradNorm: Number.POSITIVE_INFINITY }, /maxGradNorm must be a number/],
      [{ betas: [0.9, 1 - 1e-12] as [number, number] }, /betas\[1\] must be a number in \[0, 1\)/],
      [{ betas: 0.9 as never }, /betas must be two numbers/],
      [{ lr: '0.01' as never }, /lr must be a number > 0 that f32 holds, got "0.01"/],
    ] as const) {
      await expect(train(model, adapters, data, options as never), JSON.stringify(options)).rejects.toSatisfy((e: Error) => e instanceof TrainingError && message.test(e.message));
    }
    await expect(train(model, adapters, data, { schedule: 'step' as never })).rejects.toThrow(/schedule/);
    const long = tokenizedDataset([{ input_ids: Array.from({ length: 200 }, () => 5) }], { seqLen: 200 });
    await expect(train(model, adapters, long)).rejects.toThrow(/200 tokens exceed the model's max_position_embeddings 128/);
    const outside = tokenizedDataset([{ input_ids: [3, 4, 999] }], { seqLen: 8 });
    await expect(train(model, adapters, outside)).rejects.toThrow(/token 999 at 2 is outside the vocabulary of 256/);
    // Labels outside the vocabulary of a dataset built without vocabSize, or wrapped past 2³²: checked at train time.
    for (const label of [256, 2 ** 32 + 5]) {
      const labelled = tokenizedDataset([{ input_ids: [3, 4, 5], labels: [3, label, 5] }], { seqLen: 8 });
      await expect(train(model, adapters, labelled)).rejects.toThrow(new RegExp(`label ${label} at 1 is neither -100 nor inside the vocabulary of 256`));
    }
    expect(rt.pool.stats.bytesInUse).toBe(baseline);
    adapters.dispose();
    model.dispose();
  });
});
