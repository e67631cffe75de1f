// The trainer's behaviour beyond parity: a falling loss, pipelined step reports, abort, non-finite steps, bad
// options, and the GPU pool back at its baseline after every failure.
import { describe, expect, it } from 'vitest';
import { AdapterSet, LlamaModel, TrainingError, collate, evaluate, recordTrainingPass, tokenizedDataset, train } from '../../src';
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
    await expect(train(model, adapters, data, { lr: -1 })).rejects.toThrow(/lr must be a positive number/);
    await expect(train(model, adapters, data, { schedule: 'step' as never })).rejects.toThrow(/schedule/);
    const long = tokenizedDataset([{ input_ids: Array.from({ length: 200 }, () => 5) }], { seqLen: 200 });
    await expect(train(model, adapters, long)).rejects.toThrow(/200 tokens exceed the model's max_position_embeddings 128/);
    const outside = tokenizedDataset([{ input_ids: [3, 4, 999] }], { seqLen: 8 });
    await expect(train(model, adapters, outside)).rejects.toThrow(/token 999 at 2 is outside the vocabulary of 256/);
    expect(rt.pool.stats.bytesInUse).toBe(baseline);
    adapters.dispose();
    model.dispose();
  });
});
