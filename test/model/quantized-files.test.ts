// Our quantized files (src/model/quantized-files.ts): a merged QA-LoRA model written out and loaded back as it is
// gives the adapter model's logits; the codes come back bit for bit (no re-quantization); a quantized tied LM head
// survives; malformed files fail naming the file and tensor.
import { describe, expect, it } from 'vitest';
import { AdapterSet, blobSource, exportDense, exportQuantized, LlamaModel, mergeAdapters, train } from '../../src/runtime';
import { MANIFEST, writeSafetensors, type NamedTensor } from '../../src/model';
import { ModelFormatError, tokenizedDataset } from '../../src';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureSource, logits } from '../helpers/model-files';

const IDS = [3, 17, 99, 4, 250, 31, 7, 120, 64];

async function bytes(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

describe('quantized model files', () => {
  it("a merged QA-LoRA model loads back as it is: the adapter model's logits (≤ 1e-5), the same codes bit for bit", async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    const adapters = AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 8, alpha: 16, groupSize: 32, seed: 4 });
    await train(model, adapters, tokenizedDataset([{ input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }], { seqLen: 8 }), { steps: 3, batchSize: 1, lr: 5e-2, schedule: 'constant' });
    model.adapters = adapters;
    const adapted = await logits(model, IDS);
    await mergeAdapters(model, adapters);
    const files = await exportQuantized(model);
    // (generation_config.json too where the source serves it: Chromium fetches the fixture directory by URL)
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', MANIFEST]));
    const manifest = JSON.parse(await files[MANIFEST].text());
    expect(manifest).toMatchObject({ format: 'qlora-web-quantized', version: 1, quant: { codebook: 'int', bits: 4, groupSize: 32 }, lmHeadQuantized: false });
    expect(manifest.merged).toEqual([{ method: 'qa-lora', rank: 8, alpha: 16, groupSize: 32, iec: false }]);
    expect(manifest.levels).toHaveLength(16);

    const loaded = await LlamaModel.load(rt, blobSource('merged', files));
    expect(relativeError(await logits(loaded, IDS), adapted)).toBeLessThan(1e-5);
    const [a, b] = [model.weights.layers[1].down, loaded.weights.layers[1].down];
    if (a.kind !== 'quantized' || b.kind !== 'quantized') throw new Error('down_proj should be quantized');
    expect(await rt.read(b.weight.codes)).toEqual(await rt.read(a.weight.codes));
    expect(await rt.read(b.weight.stats)).toEqual(await rt.read(a.weight.stats));
    // Asking for another format is an error, the same one is fine.
    await expect(LlamaModel.load(rt, blobSource('merged', files), { quant: { codebook: 'nf', bits: 4, groupSize: 64 } })).rejects.toThrow(/stored quantized as .*load it without 'quant'/);
    const same = await LlamaModel.load(rt, blobSource('merged', files), { quant: { codebook: 'int', bits: 4, groupSize: 32, calibrate: 'none' } });
    for (const m of [same, loaded, model]) m.dispose();
    adapters.dispose();
  });

  it('a quantized tied LM head (nf3, double-quantized statistics) round-trips bit for bit', async () => {
    const rt = await testRuntime();
    const quant = { codebook: 'nf' as const, bits: 3 as const, groupSize: 64 as const, doubleQuant: true };
    const model = await LlamaModel.load(rt, await fixtureSource('tied'), { quant, quantizeLmHead: true });
    const files = await exportQuantized(model);
    expect(JSON.parse(await files[MANIFEST].text()).lmHeadQuantized).toBe(true);
    const loaded = await LlamaModel.load(rt, blobSource('tied', files));
    expect(await logits(loaded, IDS)).toEqual(await logits(model, IDS));
    loaded.dispose();
    model.dispose();
  });

  it('refuses a dense model, and malformed files naming the file and tensor', async () => {
    const rt = await testRuntime();
    const dense = await LlamaModel.load(rt, await fixtureSource('gqa'));
    await expect(exportQuantized(dense)).rejects.toThrow(/model\.layers\.0\.self_attn\.q_proj is not quantized/);
    dense.dispose();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 2, groupSize: 32 } });
    const files = await exportQuantized(model);
    // Sharded past maxShardBytes as transformers does (an index naming each tensor's file), a linear's codes and
    // statistics in one file, and loaded back to the same logits.
    const sharded = await exportQuantized(model, { maxShardBytes: 16384 });
    expect(sharded['model.safetensors']).toBeUndefined();
    expect(Object.keys(sharded).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(2);
    const index = JSON.parse(await sharded['model.safetensors.index.json'].text());
    expect(index.weight_map['model.layers.1.mlp.up_proj.codes']).toBe(index.weight_map['model.layers.1.mlp.up_proj.stats']);
    const reloaded = await LlamaModel.load(rt, blobSource('sharded', sharded));
    expect(await logits(reloaded, IDS)).toEqual(await logits(model, IDS));
    reloaded.dispose();
    model.dispose();
    const manifest = JSON.parse(await files[MANIFEST].text());
    const withManifest = (m: object) => blobSource('bad', { ...files, [MANIFEST]: new Blob([JSON.stringify(m)]) });
    await expect(LlamaModel.load(rt, withManifest({ ...manifest, version: 2 }))).rejects.toThrow(/quantization\.json: version 2 is not one this library reads/);
    await expect(LlamaModel.load(rt, withManifest({ ...manifest, quant: { ...manifest.quant, bits: 5 } }))).rejects.toThrow(ModelFormatError);
    // The same tensors under a 4-bit manifest: the codes have the wrong width.
    await expect(LlamaModel.load(rt, withManifest({ ...manifest, quant: { ...manifest.quant, bits: 4 } }))).rejects.toThrow(/model\.layers\.0\.self_attn\.q_proj\.codes\).*is U32 \[64,4\].*need U32 \[64,8\]/);
    // Codes without statistics; a dense linear in a quantized file; NaN statistics.
    const { readSafetensors } = await import('../../src/model');
    const blob = files['model.safetensors'];
    const tensors: NamedTensor[] = [];
    for await (const t of readSafetensors(blob.stream() as ReadableStream<Uint8Array>, 'x', blob.size)) tensors.push({ name: t.name, shape: t.shape, data: t.data, dtype: t.dtype === 'U32' ? 'U32' : 'F32' });
    const withTensors = (ts: NamedTensor[]) => blobSource('bad', { ...files, 'model.safetensors': new Blob([writeSafetensors(ts) as BlobPart]) });
    const noStats = tensors.filter((t) => t.name !== 'model.layers.1.mlp.down_proj.stats');
    await expect(LlamaModel.load(rt, withTensors(noStats))).rejects.toThrow(/model\.layers\.1\.mlp\.down_proj\.weight/);
    const dq = tensors.map((t) => (t.name === 'model.layers.0.self_attn.o_proj.codes' ? { name: 'model.layers.0.self_attn.o_proj.weight', shape: [64, 64], data: new Float32Array(64 * 64), dtype: 'F32' as const } : t))
      .filter((t) => t.name !== 'model.layers.0.self_attn.o_proj.stats');
    await expect(LlamaModel.load(rt, withTensors(dq))).rejects.toThrow(/o_proj\.weight.*is stored dense, but quantization\.json says the linears are quantized/);
    const nan = tensors.map((t) => (t.name === 'model.layers.0.mlp.up_proj.stats' ? { ...t, data: Float32Array.from(t.data as Float32Array, (v, i) => (i === 5 ? Number.NaN : v)) } : t));
    await expect(LlamaModel.load(rt, withTensors(nan))).rejects.toThrow(/up_proj\.stats.*non-finite statistic \(NaN\) at index 5/);
    expect(await bytes(files['config.json'])).toEqual(await bytes(new Blob([await (await (await fixtureSource('gqa')).file('config.json'))!.text()])));
  });
});

describe('dense export (transformers layout)', () => {
  it.each(['bf16', 'f16'] as const)("any method's adapter folded into %s weights: our loader reads them back to the adapter model's logits", async (dtype) => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'nf', bits: 3, groupSize: 32 } });
    // The authors' QA-BLoRA: not mergeable into offsets, so only a dense export can fold it in.
    const adapters = AdapterSet.blora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, form: 'qa-blora-authors' });
    await train(model, adapters, tokenizedDataset([{ input_ids: [3, 9, 27, 81, 243, 200, 100, 50] }], { seqLen: 8 }), { steps: 3, batchSize: 1, lr: 5e-2, schedule: 'constant' });
    model.adapters = adapters;
    const adapted = await logits(model, IDS);
    const files = await exportDense(model, { dtype });
    const config = JSON.parse(await files['config.json'].text());
    expect(config.torch_dtype).toBe(dtype === 'bf16' ? 'bfloat16' : 'float16');
    const header = JSON.parse(new TextDecoder().decode((await bytes(files['model.safetensors'])).slice(8, 8 + Number(new DataView((await bytes(files['model.safetensors'])).buffer).getBigUint64(0, true)))));
    expect(header['model.layers.1.mlp.down_proj.weight']).toMatchObject({ dtype: dtype.toUpperCase(), shape: [64, 192] });
    const dense = await LlamaModel.load(rt, blobSource('dense', files));
    // bf16 keeps 8 bits of mantissa, f16 11: the logits move by the rounding of every weight.
    expect(relativeError(await logits(dense, IDS), adapted)).toBeLessThan(dtype === 'bf16' ? 2e-2 : 3e-3);
    expect(relativeError(await logits(dense, IDS), adapted)).toBeGreaterThan(0);
    for (const m of [dense, model]) m.dispose();
    adapters.dispose();
  });
});
