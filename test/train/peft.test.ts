// PEFT interop: an exported adapter imports to the same tensors and logits; adapters attached to the model change
// generation's logits as the training pass sees them; malformed or mismatched adapters are refused by field.
import { describe, expect, it } from 'vitest';
import { AdapterConfigError, tokenizedDataset } from '../../src';
import { AdapterSet, LlamaModel, blobSource, exportPeft, importPeft, recordTrainingPass, collate, train } from '../../src/runtime';
import { readSafetensors, writeSafetensors } from '../../src/model';
import type { Runtime } from '../../src/gpu';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureSource, logits } from '../helpers/model-files';

type Files = Record<string, Blob>;
const bytes = (u: Uint8Array) => new Blob([u as Uint8Array<ArrayBuffer>]);

async function trained(rt: Runtime, model: LlamaModel): Promise<AdapterSet> {
  const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'], seed: 2 });
  const rows = [{ input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }, { input_ids: [5, 25, 125, 130, 150, 250] }];
  await train(model, adapters, tokenizedDataset(rows, { seqLen: 8 }), { steps: 2, batchSize: 2, lr: 5e-2, schedule: 'constant' });
  return adapters;
}

describe('PEFT adapters', () => {
  it('export writes PEFT keys and config; import gives back the same tensors and logits', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
    const adapters = await trained(rt, model);
    const { config, weights } = await exportPeft(adapters, { baseModel: 'tiny/gqa' });
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, use_rslora: false, target_modules: ['q_proj', 'v_proj', 'down_proj'], base_model_name_or_path: 'tiny/gqa' });
    const names: string[] = [];
    for await (const t of readSafetensors(new Blob([weights as Uint8Array<ArrayBuffer>]).stream() as ReadableStream<Uint8Array>, 'adapter_model.safetensors', weights.length)) names.push(t.name);
    expect(names).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight');
    expect(names).toHaveLength(2 * 3 * model.config.layers);
    const ids = [3, 17, 99, 4, 250, 31, 7];
    model.adapters = adapters;
    const ours = await logits(model, ids);
    const files: Files = { 'adapter_config.json': new Blob([JSON.stringify(config)]), 'adapter_model.safetensors': bytes(weights) };
    const imported = await importPeft(model, blobSource('exported', files), { baseModel: 'tiny/gqa' });
    expect(await imported.store.read()).toEqual(await adapters.store.read());
    model.adapters = imported;
    expect(relativeError(await logits(model, ids), ours)).toBe(0);
    model.adapters = null;
    expect(relativeError(await logits(model, ids), ours)).toBeGreaterThan(1e-4);
    adapters.dispose();
    imported.dispose();
    model.dispose();
  });

  it("the inference forward with adapters attached gives the training pass's loss", async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('tied'));
    const adapters = await trained(rt, model);
    model.adapters = adapters;
    const ids = [3, 17, 99, 4, 250, 31, 7, 8, 9];
    const all = await logits(model, ids);
    const vocab = model.config.vocabSize;
    let want = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = all.subarray(t * vocab, (t + 1) * vocab);
      const m = Math.max(...row);
      want += Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) + m - row[ids[t + 1]];
    }
    const batch = collate(tokenizedDataset([{ input_ids: ids }], { seqLen: 16 }).examples);
    const lossSum = rt.tensor([1], 'f32', 'loss');
    const step = rt.step();
    await recordTrainingPass(model, step, batch, { backward: false, lossScale: 0, checkpointing: false, seed: 0, firstMicroBatch: true, lossSum });
    step.submit();
    const got = ((await rt.read(lossSum)) as Float32Array)[0];
    expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
    rt.free(lossSum);
    adapters.dispose();
    model.dispose();
  });

  it('refuses adapters that do not fit the model, naming the field or tensor, and leaves the GPU pool as it was', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, targets: ['q_proj'] });
    const { config, weights } = await exportPeft(adapters);
    adapters.dispose();
    const baseline = rt.pool.stats.bytesInUse;
    const good = (await readSafetensors(new Blob([weights as Uint8Array<ArrayBuffer>]).stream() as ReadableStream<Uint8Array>, 'w', weights.length).next()).value!;
    const cases: [Files, RegExp][] = [
      [{}, /adapter_config\.json': not found/],
      [{ 'adapter_config.json': new Blob(['{oops']) }, /not valid JSON/],
      [{ 'adapter_config.json': new Blob([JSON.stringify({ ...config, peft_type: 'IA3' })]) }, /'peft_type'.*only 'LORA'/],
      [{ 'adapter_config.json': new Blob([JSON.stringify({ ...config, r: 0 })]) }, /'r'.*positive integer/],
      [{ 'adapter_config.json': new Blob([JSON.stringify({ ...config, target_modules: ['lm_head'] })]) }, /'lm_head' is not a linear of a LLaMA layer/],
      [{ 'adapter_config.json': new Blob([JSON.stringify({ ...config, use_dora: true })]) }, /'use_dora'.*not supported/],
      [{ 'adapter_config.json': new Blob([JSON.stringify(config)]) }, /adapter_model\.safetensors': not found/],
      [{ 'adapter_config.json': new Blob([JSON.stringify({ ...config, r: 8 })]), 'adapter_model.safetensors': bytes(weights) }, /has shape \[4,64\], the model and r = 8 need \[8,64\]/],
      [{ 'adapter_config.json': new Blob([JSON.stringify(config)]), 'adapter_model.safetensors': bytes(writeSafetensors([{ name: good.name, shape: good.shape, data: good.data }])) }, /missing 3 tensor/],
      [{ 'adapter_config.json': new Blob([JSON.stringify(config)]), 'adapter_model.safetensors': bytes(writeSafetensors([{ name: 'base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight', shape: [4, 64], data: new Float32Array(256) }])) }, /layers\.9.*is not a LoRA tensor of this model/],
      [{ 'adapter_config.json': new Blob([JSON.stringify({ ...config, base_model_name_or_path: 'other/model' })]), 'adapter_model.safetensors': bytes(weights) }, /trained on 'other\/model', not 'tiny\/gqa'/],
    ];
    for (const [files, message] of cases) {
      const error = await importPeft(model, blobSource('bad', files), { baseModel: 'tiny/gqa' }).catch((e) => e);
      expect(error, String(message)).toBeInstanceOf(AdapterConfigError);
      expect(error.message).toMatch(message);
    }
    expect(rt.pool.stats.bytesInUse).toBe(baseline);
    expect(() => AdapterSet.lora(rt, model.adaptableLinears(), { targets: ['qkv_proj' as never] })).toThrow(/'qkv_proj' is not a linear/);
    model.dispose();
  });
});
