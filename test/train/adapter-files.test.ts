// Every method's adapters exported with their optimizer state and imported back continue training bit for bit: a run
// stopped part-way, written out, read into a fresh set and resumed (train({ startStep })) ends with exactly the
// parameters of the uninterrupted run. Adapters trained on one base are refused by another (merge, training).
import { describe, expect, it } from 'vitest';
import { AdapterConfigError, tokenizedDataset, TrainingError } from '../../src';
import { AdapterSet, blobSource, exportAdapter, importAdapter, LlamaModel, mergeAdapters, train, type TrainOptions } from '../../src/runtime';
import { testRuntime } from '../helpers/gpu';
import { fixtureSource } from '../helpers/model-files';

const ROWS = [
  { input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }, { input_ids: [5, 25, 125, 130, 150, 250, 7, 8] },
  { input_ids: [11, 22, 33, 44, 55, 66, 77, 88] }, { input_ids: [1, 2, 4, 8, 16, 32, 64, 128] },
];
const OPTIONS: TrainOptions = { steps: 5, batchSize: 2, lr: 2e-2, schedule: 'cosine', warmupSteps: 1, weightDecay: 0.01, seed: 9 };

const METHODS: [string, (m: LlamaModel) => AdapterSet][] = [
  ['LoRA (PEFT format)', (m) => AdapterSet.lora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2 })],
  ['LoRA + IEC (IR-QLoRA)', (m) => AdapterSet.lora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2, iec: true })],
  ['QA-LoRA', (m) => AdapterSet.qaLora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2, groupSize: 32 })],
  ['QA-LoRA + IEC', (m) => AdapterSet.qaLora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2, groupSize: 32, iec: true })],
  ['Q-BLoRA', (m) => AdapterSet.blora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2, form: 'q-blora' })],
  ['QA-BLoRA (ours)', (m) => AdapterSet.blora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2, form: 'qa-blora', groupSize: 32 })],
  ["QA-BLoRA (authors')", (m) => AdapterSet.blora(m.rt, m.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 2, form: 'qa-blora-authors' })],
];

describe('adapter files', () => {
  it.each(METHODS)('%s: stopped, exported, imported and resumed, ends bit for bit where the uninterrupted run ends', async (_, create) => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    const data = tokenizedDataset(ROWS, { seqLen: 8 });
    const whole = create(model);
    await train(model, whole, data, OPTIONS);
    const expected = await whole.store.read();

    const stopped = create(model);
    const abort = new AbortController();
    await train(model, stopped, data, { ...OPTIONS, signal: abort.signal, onStep: (s) => s.step === 2 && abort.abort() });
    expect(stopped.trainedSteps).toBeGreaterThanOrEqual(2);
    expect(stopped.trainedSteps).toBeLessThan(5);
    const files = await exportAdapter(stopped, { optimizer: true });
    const config = JSON.parse(await files['adapter_config.json'].text());
    expect(config.peft_type).toBe(stopped.method === 'lora' && !stopped.config.iec ? 'LORA' : 'QLORA_WEB');

    const resumed = await importAdapter(model, blobSource('adapter', files));
    expect([resumed.method, resumed.config.iec, resumed.trainedSteps, resumed.base]).toEqual([stopped.method, stopped.config.iec, stopped.trainedSteps, stopped.base]);
    await train(model, resumed, data, { ...OPTIONS, startStep: resumed.trainedSteps });
    const got = await resumed.store.read();
    for (const [name, values] of expected) expect(got.get(name), name).toEqual(values);
    for (const s of [whole, stopped, resumed]) s.dispose();
    model.dispose();
  });

  it('refuses adapters of another base: merging and training them, and tensors of another shape on import', async () => {
    const rt = await testRuntime();
    const quant = { codebook: 'int' as const, bits: 4 as const, groupSize: 32 as const };
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant });
    const other = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { ...quant, bits: 3 as const } });
    const data = tokenizedDataset(ROWS, { seqLen: 8 });
    const qa = AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 32 });
    await train(model, qa, data, { steps: 1, batchSize: 2 });
    await expect(mergeAdapters(other, qa)).rejects.toThrow(AdapterConfigError);
    await expect(mergeAdapters(other, qa)).rejects.toThrow(/trained on another base.*merging them would give a wrong model/);
    await expect(train(other, qa, data, { steps: 1, batchSize: 2 })).rejects.toThrow(TrainingError);
    // Exported and imported, the fingerprint travels with them.
    const files = await exportAdapter(qa);
    const back = await importAdapter(other, blobSource('qa', files));
    await expect(mergeAdapters(other, back)).rejects.toThrow(/trained on another base/);
    back.dispose();
    // Another model's shapes (tied: 4 KV heads, not 2).
    const tied = await LlamaModel.load(rt, await fixtureSource('tied'), { quant });
    await expect(importAdapter(tied, blobSource('qa', files))).rejects.toThrow(/self_attn\.k_proj\.lora_B\.weight' has shape \[32,4\], the model and the config need \[64,4\]/);
    const config = JSON.parse(await files['adapter_config.json'].text());
    const bad = (q: object) => blobSource('bad', { ...files, 'adapter_config.json': new Blob([JSON.stringify({ ...config, qlora_web: { ...config.qlora_web, ...q } })]) });
    await expect(importAdapter(model, bad({ method: 'dora' }))).rejects.toThrow(/method must be one of/);
    await expect(importAdapter(model, bad({ format_version: 2 }))).rejects.toThrow(/format_version 2 is not one this library reads/);
    await expect(importAdapter(model, bad({ group_size: 64 }))).rejects.toThrow(/q_proj\.lora_A\.weight' has shape \[4,2\], the model and the config need \[4,1\]/);
    qa.dispose();
    for (const m of [model, other, tied]) m.dispose();
  });
});
