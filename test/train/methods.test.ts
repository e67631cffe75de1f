// The papers' adapter methods on the training runtime, against PyTorch (make_training_fixtures.py, docs/methods.md):
// QA-LoRA (the input summed over groups of 32) and its merge into a quantized base's offsets; IR-QLoRA's IEC around
// LoRA (βA, βB learnable): the loss, every gradient and the parameters after three AdamW steps.
import { describe, expect, it } from 'vitest';
import { AdapterConfigError, tokenizedDataset } from '../../src';
import { AdapterSet, collate, exportPeft, LlamaModel, mergeAdapters, recordTrainingPass, train } from '../../src/runtime';
import { fixtureDataset, readFixture } from '../helpers/fixture-file';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureSource, logits } from '../helpers/model-files';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;




/** The loss, every gradient and three AdamW steps of the adapters `create` makes, started from the fixture's values. */
/** Bounds: the 1e-3 (gradients) and 1e-4 (after three steps) unless a fixture is ill-conditioned in f32 (say
 *  why where they are passed). */
async function checkParity(fixture: string, create: (model: LlamaModel) => AdapterSet, gradientBound = 1e-3, stepBound = 1e-4) {
  const rt = await testRuntime();
  const fx = await readFixture(fixture);
  const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
  const make = () => {
    const set = create(model);
    for (const name of set.store.names) set.store.write(name, fx.get(name)!.data);
    return set;
  };
  const set = make();
  model.adapters = set;
  const { B, T, dataset } = await fixtureDataset(fx);
  const batch = collate(dataset.examples, T);
  const lossSum = rt.tensor([1], 'f32', 'loss');
  const step = rt.step();
  await recordTrainingPass(model, step, batch, { backward: true, lossScale: 1 / batch.scored, checkpointing: false, seed: 0, firstMicroBatch: true, lossSum });
  step.submit();
  const loss = ((await rt.read(lossSum)) as Float32Array)[0] / batch.scored;
  expect(Math.abs(loss - fx.get('loss')!.data[0]) / fx.get('loss')!.data[0]).toBeLessThan(1e-5);
  let worst = 0;
  for (const [key, g] of await set.store.read('grads')) worst = Math.max(worst, relativeError(g, fx.get(`${key}.grad`)!.data));
  expect(worst).toBeLessThan(gradientBound);
  rt.free(lossSum);
  set.dispose();
  const trained = make();
  await train(model, trained, dataset, { steps: 3, batchSize: B, lr: 1e-2, schedule: 'linear', warmupSteps: 2, weightDecay: 0.01, eps: 1e-6, maxGradNorm: 0.5 });
  worst = 0;
  for (const [key, p] of await trained.store.read()) worst = Math.max(worst, relativeError(p, fx.get(`${key}.step3`)!.data));
  expect(worst).toBeLessThan(stepBound);
  trained.dispose();
  model.dispose();
}

describe('QA-LoRA', () => {
  it('matches PyTorch: the loss, every gradient (≤ 1e-3) and the tensors after three AdamW steps (≤ 1e-4)', async () => {
    await checkParity('test/fixtures/train/gqa-qalora.safetensors', (model) => AdapterSet.qaLora(model.rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: TARGETS, groupSize: 32 }));
  });

  it('merges into an int4 G32 base (q/k/v and gate/up stacked): the model alone gives the adapter model\'s logits (≤ 1e-5)', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    expect(model.weights.layers[0].qkv).toBeDefined();
    const adapters = AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 8, alpha: 16, groupSize: 32, seed: 4 });
    const rows = [{ input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }, { input_ids: [5, 25, 125, 130, 150, 250] }];
    await train(model, adapters, tokenizedDataset(rows, { seqLen: 8 }), { steps: 3, batchSize: 2, lr: 5e-2, schedule: 'constant' });
    const ids = [3, 17, 99, 4, 250, 31, 7, 120, 64];
    model.adapters = null;
    const base = await logits(model, ids);
    model.adapters = adapters;
    const adapted = await logits(model, ids);
    expect(relativeError(adapted, base)).toBeGreaterThan(1e-3);
    await mergeAdapters(model, adapters);
    expect(model.adapters).toBeNull();
    expect(relativeError(await logits(model, ids), adapted)).toBeLessThan(1e-5);
    adapters.dispose();
    model.dispose();
  });

  it('refuses merges that cannot be exact, naming the layer, before any weight changes', async () => {
    const rt = await testRuntime();
    const dense = await LlamaModel.load(rt, await fixtureSource('gqa'));
    const q64 = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 4, groupSize: 64 } });
    const lora = AdapterSet.lora(rt, q64.adaptableLinears(), { rank: 4 });
    await expect(mergeAdapters(q64, lora)).rejects.toThrow(/'lora' cannot merge.*model\.layers\.0\.self_attn\.q_proj/);
    const qa = AdapterSet.qaLora(rt, q64.adaptableLinears(), { rank: 4, groupSize: 32 });
    await expect(mergeAdapters(q64, qa)).rejects.toThrow(AdapterConfigError);
    await expect(mergeAdapters(q64, qa)).rejects.toThrow(/quantized in groups of 64, the adapter pools groups of 32/);
    await expect(mergeAdapters(dense, qa)).rejects.toThrow(/is not quantized/);
    // Before training, not after: pooling groups of 32 over a G64 base could never merge.
    const rows = tokenizedDataset([{ input_ids: [3, 9, 27, 81] }], { seqLen: 4 });
    await expect(train(q64, qa, rows, { steps: 1, batchSize: 1 })).rejects.toThrow(/'qa-lora' pools groups of 32, but model\.layers\.0\.self_attn\.q_proj \[64, 64\] is quantized in groups of 64/);
    expect(() => AdapterSet.qaLora(rt, q64.adaptableLinears(), { rank: 4, groupSize: 48 })).toThrow(/not whole groups of 48/);
    expect(() => AdapterSet.qaLora(rt, q64.adaptableLinears(), { rank: 6, groupSize: 32 })).toThrow(/multiples of 4/);
    for (const x of [lora, qa]) x.dispose();
    dense.dispose();
    q64.dispose();
  });
});

describe('BLoRA', () => {
  it('Q-BLoRA (pairs averaged, rank 2r, outputs repeated twice) matches PyTorch', async () => {
    await checkParity('test/fixtures/train/gqa-q-blora.safetensors', (model) => AdapterSet.blora(model.rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: TARGETS, form: 'q-blora' }));
  });

  it('QA-BLoRA, ours (groups of 32 summed, rank 2r, outputs repeated twice) matches PyTorch', async () => {
    await checkParity('test/fixtures/train/gqa-qa-blora.safetensors', (model) => AdapterSet.blora(model.rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: TARGETS, form: 'qa-blora', groupSize: 32 }));
  });

  it("QA-BLoRA as its authors coded it (one matrix over inputs averaged in fours, outputs repeated 8 times) matches PyTorch", async () => {
    await checkParity('test/fixtures/train/gqa-qa-blora-authors.safetensors', (model) => AdapterSet.blora(model.rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: TARGETS, form: 'qa-blora-authors' }));
  });

  it('our QA-BLoRA merges into an int4 G32 base (≤ 1e-5); Q-BLoRA, whose pairs are no quantization group, does not', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    const adapters = AdapterSet.blora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, form: 'qa-blora', groupSize: 32, seed: 6 });
    await train(model, adapters, tokenizedDataset([{ input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }], { seqLen: 8 }), { steps: 3, batchSize: 1, lr: 5e-2, schedule: 'constant' });
    model.adapters = adapters;
    const ids = [3, 17, 99, 4, 250, 31, 7, 120, 64];
    const adapted = await logits(model, ids);
    const qb = AdapterSet.blora(rt, model.adaptableLinears(), { rank: 4, form: 'q-blora' });
    await expect(mergeAdapters(model, qb)).rejects.toThrow(/groups of 32, the adapter pools groups of 2/);
    const authors = AdapterSet.blora(rt, model.adaptableLinears(), { rank: 4, form: 'qa-blora-authors' });
    await expect(mergeAdapters(model, authors)).rejects.toThrow(/'qa-blora-authors' cannot merge/);
    authors.dispose();
    await mergeAdapters(model, adapters);
    expect(relativeError(await logits(model, ids), adapted)).toBeLessThan(1e-5);
    for (const x of [adapters, qb]) x.dispose();
    model.dispose();
  });
});

describe("IR-QLoRA's IEC", () => {
  it('matches PyTorch with βA, βB away from 0: the loss, every gradient (βA, βB included) and three AdamW steps', async () => {
    await checkParity('test/fixtures/train/gqa-iec.safetensors', (model) => AdapterSet.lora(model.rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: TARGETS, iec: true }));
  });

  // This fixture is ill-conditioned in f32: the adapter's output (sums over 32 inputs, the IEC paths, B at 0.05)
  // outweighs the layers' own. PyTorch's own f32 run differs from its float64 one by up to 5.7e-4 in a gradient (layer
  // 0 o_proj's A) and 3.1e-4 after the three steps (measured on the same fixture); ours by 1.09e-3 and 6.1e-4, so the
  // bounds are 2e-3 and 1e-3 here, not 1e-3 and 1e-4.
  it("over QA-LoRA's pooled input (IR-QLoRA's integer form; poolr of the raw x) matches PyTorch", async () => {
    await checkParity('test/fixtures/train/gqa-qalora-iec.safetensors', (model) => AdapterSet.qaLora(model.rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: TARGETS, groupSize: 32, iec: true }), 2e-3, 1e-3);
  });

  it('over QA-LoRA merges into an int4 G32 base when each of its r chunks is whole groups (≤ 1e-5), and refuses otherwise', async () => {
    const rt = await testRuntime();
    // llama3: q/k/v/gate/up take 128 inputs (chunks of 32 at r 4), down 256 (64); o_proj's 192 give chunks of 48.
    const model = await LlamaModel.load(rt, await fixtureSource('llama3'), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    const targets = TARGETS.filter((t) => t !== 'o_proj');
    const adapters = AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, groupSize: 32, iec: true, targets, seed: 3 });
    const rows = [{ input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }, { input_ids: [5, 25, 125, 130, 150, 250] }];
    await train(model, adapters, tokenizedDataset(rows, { seqLen: 8 }), { steps: 3, batchSize: 2, lr: 5e-2, schedule: 'constant' });
    const betas = [...(await adapters.store.read())].filter(([k]) => k.includes('iec_beta')).map(([, v]) => v[0]);
    expect(Math.min(...betas.map(Math.abs))).toBeGreaterThan(1e-3);
    model.adapters = adapters;
    const ids = [3, 17, 99, 4, 250, 31, 7, 120, 64];
    const adapted = await logits(model, ids);
    const withO = AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 32, iec: true });
    await expect(mergeAdapters(model, withO)).rejects.toThrow(/o_proj's 192 inputs in 4 chunks of 48, which are not whole groups of 32/);
    withO.dispose();
    await mergeAdapters(model, adapters);
    expect(relativeError(await logits(model, ids), adapted)).toBeLessThan(1e-5);
    adapters.dispose();
    model.dispose();
  });

  it('needs the rank to divide every adapted size, and refuses PEFT export', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
    expect(() => AdapterSet.lora(rt, model.adaptableLinears(), { rank: 12, iec: true })).toThrow(/model\.layers\.0\.self_attn\.q_proj has 64 inputs, not 12 equal chunks/);
    const set = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, iec: true });
    await expect(exportPeft(set)).rejects.toThrow(/plain LoRA, not 'lora' with IEC/);
    set.dispose();
    model.dispose();
  });
});
