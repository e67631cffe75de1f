// The token embedding in the base's low-bit format (LoadOptions.embedding 'quantized'): a tied model keeps one table
// for the embedding and the LM head; the logits and a training pass's loss are those of the same model with the
// table dequantized into f32; the quantized files keep it and load it back as it is.
import { describe, expect, it } from 'vitest';
import { blobSource, collate, exportQuantized, LlamaModel, recordTrainingPass } from '../../src/runtime';
import { MANIFEST } from '../../src/model';
import { dequantize, dequantizeStats, unpackCodes, type QuantSpec } from '../../src/quant';
import type { Runtime } from '../../src/gpu';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureSource, logits } from '../helpers/model-files';

const IDS = [3, 17, 99, 4, 250, 31, 7, 120, 64];

/** The model's quantized embedding as an f32 table (dequantized on the CPU). */
async function denseTable(rt: Runtime, model: LlamaModel): Promise<Float32Array> {
  const e = model.weights.embed;
  if (e.kind !== 'quantized') throw new Error('expected a quantized embedding');
  const w = e.weight;
  const codes = unpackCodes((await rt.read(w.codes)) as Uint32Array, w.out, w.inFeatures, w.spec.bits);
  const groups = (w.out * w.inFeatures) / w.spec.groupSize;
  const stats = w.statBlocks
    ? dequantizeStats((await rt.read(w.stats)) as Uint32Array, (await rt.read(w.statBlocks)) as Float32Array, groups)
    : ((await rt.read(w.stats)) as Float32Array);
  return dequantize(codes, stats, w.out, w.inFeatures, w.spec);
}

/** What `run` gives with the model's embedding swapped for its dequantized f32 table (the LM head untouched). */
async function withDenseEmbedding<T>(rt: Runtime, model: LlamaModel, run: () => Promise<T>): Promise<T> {
  const quantized = model.weights.embed;
  const table = rt.upload(await denseTable(rt, model), [quantized.out, quantized.in], 'dequantized embedding');
  model.weights.embed = { kind: 'dense', name: 'embed (dequantized)', out: quantized.out, in: quantized.in, weight: table };
  try {
    return await run();
  } finally {
    model.weights.embed = quantized;
    rt.free(table);
  }
}

async function passLoss(rt: Runtime, model: LlamaModel): Promise<number> {
  const batch = collate([{ ids: IDS, labels: IDS }], IDS.length);
  const lossSum = rt.tensor([1], 'f32', 'loss');
  const step = rt.step();
  await recordTrainingPass(model, step, batch, { backward: false, lossScale: 1, checkpointing: false, seed: 0, firstMicroBatch: true, lossSum });
  step.submit();
  const loss = ((await rt.read(lossSum)) as Float32Array)[0];
  rt.free(lossSum);
  return loss;
}

describe('a quantized token embedding', () => {
  const quant: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' };

  it('tied: one table for the embedding and the LM head, fewer GPU bytes, the logits and loss of its dequantized f32 form, kept by its files', async () => {
    const rt = await testRuntime();
    const before = rt.pool.stats.bytesInUse;
    const f32 = await LlamaModel.load(rt, await fixtureSource('tied'), { quant, quantizeLmHead: true });
    const f32Bytes = rt.pool.stats.bytesInUse - before;
    f32.dispose();
    const model = await LlamaModel.load(rt, await fixtureSource('tied'), { quant, embedding: 'quantized' });
    expect(model.weights.lmHead).toBe(model.weights.embed);
    expect(model.weights.embed.kind).toBe('quantized');
    const vocabBytes = 4 * model.config.vocabSize * model.config.hiddenSize;
    expect(f32Bytes - (rt.pool.stats.bytesInUse - before)).toBeGreaterThan(0.75 * vocabBytes); // the f32 table is gone
    const got = await logits(model, IDS);
    const loss = await passLoss(rt, model);
    const [want, wantLoss] = await withDenseEmbedding(rt, model, async () => [await logits(model, IDS), await passLoss(rt, model)] as const);
    expect(relativeError(got, want)).toBeLessThan(1e-6);
    expect(Math.abs(loss - wantLoss) / wantLoss).toBeLessThan(1e-6);
    // Its quantized files keep the one table, and load back with one table.
    const loaded = await LlamaModel.load(rt, blobSource('tied quantized', await exportQuantized(model)));
    expect(loaded.weights.lmHead).toBe(loaded.weights.embed);
    expect(await logits(loaded, IDS)).toEqual(got);
    loaded.dispose();
    model.dispose();
    expect(rt.pool.stats.bytesInUse).toBe(before);
  });

  it('untied: the logits of its dequantized f32 form; the quantized files keep it and load it back bit for bit', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 3, groupSize: 32, doubleQuant: true }, embedding: 'quantized' });
    expect(model.weights.lmHead).not.toBe(model.weights.embed);
    const got = await logits(model, IDS);
    expect(relativeError(got, await withDenseEmbedding(rt, model, () => logits(model, IDS)))).toBeLessThan(1e-6);
    const files = await exportQuantized(model);
    expect(JSON.parse(await files[MANIFEST].text())).toMatchObject({ embedQuantized: true, lmHeadQuantized: false });
    const loaded = await LlamaModel.load(rt, blobSource('gqa quantized', files));
    expect(loaded.weights.embed.kind).toBe('quantized');
    expect(await logits(loaded, IDS)).toEqual(got);
    await expect(LlamaModel.load(rt, blobSource('gqa quantized', files), { embedding: 'f32' })).rejects.toThrow(/stored with its embedding quantized/);
    loaded.dispose();
    model.dispose();
  });

  it("refuses 'quantized' without a format, and a value outside the two", async () => {
    const rt = await testRuntime();
    await expect(LlamaModel.load(rt, await fixtureSource('tied'), { embedding: 'quantized' })).rejects.toThrow(/needs a quant format/);
    await expect(LlamaModel.load(rt, await fixtureSource('tied'), { quant, embedding: 'int8' as never })).rejects.toThrow(/embedding must be 'f32' or 'quantized', got "int8"/);
  });
});
