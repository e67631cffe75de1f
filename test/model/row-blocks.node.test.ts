// Weights past the buffer limits, split into row blocks (src/model/row-blocks.ts), on a runtime held to 128 KiB per
// binding and 256 KiB per buffer (a page's defaults scaled by 1/1024): an f32 weight and quantized ones (4-bit,
// 3-bit, 8-bit statistics) of 2200 × 256 are split, and their forward, backward and row gather equal the whole
// weight's on an unlimited runtime; quantized blocks read one after another are the whole weight's codes and
// statistics. Then a model whose embedding and LM head pass the limits: loaded, trained for a step, generated from
// and exported, with the results of the same model without limits.
import { afterAll, describe, expect, it } from 'vitest';
import { byteLength, Runtime, type Tensor } from '../../src/gpu';
import {
  blockRows, embedTokens, exportQuantized, generateTokens, linearBackward, linearForward, LlamaModel, pieces, quantizeRows, uploadDense,
  uploadQuantized, type LinearWeight,
} from '../../src/model';
import { quantize, type QuantizedWeight, type QuantSpec } from '../../src/quant';
import { AdapterSet, collate, recordTrainingPass } from '../../src/runtime';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { fixtureSource, logits } from '../helpers/model-files';
import { Rng } from '../helpers/rng';

const KiB = 1024;
const LIMIT = 128 * KiB;
let limited: Promise<Runtime> | null = null;
/** The file's runtime held to LIMIT per binding, twice that per buffer. */
function limitedRuntime(): Promise<Runtime> {
  limited ??= Runtime.create({ bufferLimits: { maxStorageBufferBindingSize: LIMIT, maxBufferSize: 2 * LIMIT } });
  return limited;
}
afterAll(async () => (await limited)?.dispose());

const [OUT, IN, M] = [2200, 256, 8];
const FORMATS: [string, QuantSpec | null][] = [
  ['f32', null],
  ['nf4 G64', { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' }],
  ['int3 G32', { codebook: 'int', bits: 3, groupSize: 32, calibrate: 'none' }],
  ['nf4 G64, 8-bit statistics', { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none', doubleQuant: true }],
];

async function readAll(rt: Runtime, ts: Tensor[]): Promise<number[]> {
  const out: number[] = [];
  for (const t of ts) out.push(...(await rt.read(t)));
  return out;
}

/** y = x·Wᵀ (+ y0 with accumulate), dx = dy·W and the rows of ids, for `w` on `rt`. */
async function run(rt: Runtime, w: LinearWeight, x: Float32Array, y0: Float32Array, dy: Float32Array, ids: Uint32Array) {
  const X = rt.upload(x, [M, IN], 'x');
  const Y = rt.upload(poison(M * OUT), [M, OUT], 'y');
  const Ya = rt.upload(y0, [M, OUT], 'y accumulated');
  const DY = rt.upload(dy, [M, OUT], 'dy');
  const DX = rt.upload(poison(M * IN), [M, IN], 'dx');
  const I = rt.upload(ids, [ids.length], 'ids');
  const E = rt.upload(poison(ids.length * IN), [ids.length, IN], 'rows');
  const step = rt.step();
  await linearForward(rt, step, X, w, Y);
  await linearForward(rt, step, X, w, Ya, true);
  await linearBackward(rt, step, DY, w, DX);
  await embedTokens(rt, step, I, w, E);
  step.submit();
  const got = { y: await rt.read(Y), ya: await rt.read(Ya), dx: await rt.read(DX), rows: await rt.read(E) };
  rt.free(X, Y, Ya, DY, DX, I, E);
  return got;
}

describe('row blocks', () => {
  it('blockRows: blocks of whole quanta within the limit, the last the rest; a quantum past it is a LimitError', () => {
    expect(blockRows(1100, 1024, 64 * KiB, 1, 'w')).toEqual([...Array(17).fill(64), 12]);
    expect(blockRows(1100, 128, 64 * KiB, 64, 'w')).toEqual([512, 512, 76]);
    expect(blockRows(1100, 96, 64 * KiB, 8, 'w')).toEqual([680, 420]);
    expect(blockRows(10, 1024, 64 * KiB, 1, 'w')).toEqual([10]);
    expect(() => blockRows(100, 2048, 64 * KiB, 64, 'w')).toThrow(/w: one row block of 64 rows.*maxStorageBufferBindingSize >= 131072, but the adapter allows 65536/);
  });

  for (const [name, spec] of FORMATS) {
    it(`${name} [${OUT}, ${IN}] past the limits: split, with the whole weight's forward, backward and row gather`, async () => {
      const [rt, small] = [await testRuntime(), await limitedRuntime()];
      const rng = new Rng(OUT + (spec?.bits ?? 0) + (spec?.doubleQuant ? 7 : 0));
      const data = rng.normals(OUT * IN, 0.05);
      const [x, y0, dy] = [rng.normals(M * IN), rng.normals(M * OUT), rng.normals(M * OUT)];
      const ids = Uint32Array.from([0, 127, 128, 1023, 1024, 1359, 1360, 2047, 2048, 2199, rng.int(0, OUT - 1), rng.int(0, OUT - 1)]);
      let whole: LinearWeight;
      if (spec) {
        const f32 = rt.upload(data, [OUT, IN], 'w f32');
        whole = { kind: 'quantized', name: 'w', out: OUT, in: IN, weight: await quantize(rt, f32, spec, 'w') };
        rt.free(f32);
      } else whole = uploadDense(rt, data, OUT, IN, 'w');
      const split = spec ? await quantizeRows(small, data, OUT, IN, spec, 'w') : uploadDense(small, data, OUT, IN, 'w');
      expect(split.kind).toBe('blocks');
      const parts = pieces(split);
      expect(parts.length).toBeGreaterThan(1);
      for (const { part } of parts) {
        const buffers = part.kind === 'dense' ? [part.weight] : [part.weight.codes, part.weight.stats, ...(part.weight.statBlocks ? [part.weight.statBlocks] : [])];
        for (const b of buffers) expect(byteLength(b)).toBeLessThanOrEqual(LIMIT);
      }
      const want = await run(rt, whole, x, y0, dy, ids);
      const got = await run(small, split, x, y0, dy, ids);
      expect(got.y).toEqual(want.y);
      expect(got.ya).toEqual(want.ya);
      expect(got.rows).toEqual(want.rows);
      expect(relativeError(got.dx, want.dx)).toBeLessThan(1e-6); // the blocks' sums add in another order
      if (spec) {
        // Read one after another, the blocks are the whole weight's tensors; uploaded from those, the same blocks.
        const [w, blocks] = [(whole as { weight: QuantizedWeight }).weight, parts.map((p) => p.part.weight as QuantizedWeight)];
        const host = {
          codes: new Uint32Array(await readAll(small, blocks.map((b) => b.codes))),
          stats: spec.doubleQuant ? new Uint32Array(await readAll(small, blocks.map((b) => b.stats))) : new Float32Array(await readAll(small, blocks.map((b) => b.stats))),
          ...(spec.doubleQuant ? { statBlocks: new Float32Array(await readAll(small, blocks.map((b) => b.statBlocks!))) } : {}),
        };
        expect([...host.codes]).toEqual([...(await rt.read(w.codes))]);
        expect([...host.stats]).toEqual([...(await rt.read(w.stats))]);
        if (w.statBlocks) expect([...host.statBlocks!]).toEqual([...(await rt.read(w.statBlocks))]);
        const uploaded = uploadQuantized(small, host, spec, OUT, IN, 'w');
        expect(uploaded.kind).toBe('blocks');
        expect((await run(small, uploaded, x, y0, dy, ids)).y).toEqual(want.y);
      }
    });
  }

  it('a model past the limits loads, trains a step, generates and exports as without them', async () => {
    const quant: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' };
    const results = [];
    for (const rt of [await testRuntime(), await limitedRuntime()]) {
      const model = await LlamaModel.load(rt, await fixtureSource('llama3'), { quant });
      model.ropeFor(64);
      const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, seed: 2 });
      model.adapters = adapters;
      const batch = collate([{ ids: [5, 9, 300, 2, 77, 1, 64, 250, 8], labels: [5, 9, 300, 2, 77, 1, 64, 250, 8] }]);
      const lossSum = rt.tensor([1], 'f32', 'loss');
      const step = rt.step();
      await recordTrainingPass(model, step, batch, { backward: true, lossScale: 1 / batch.scored, checkpointing: false, seed: 0, firstMicroBatch: true, lossSum });
      step.submit();
      const files = await exportQuantized(model);
      results.push({
        split: [model.weights.embed.kind, model.weights.lmHead.kind],
        loss: (await rt.read(lossSum))[0], grads: Float32Array.from([...(await adapters.store.read('grads')).values()].flatMap((g) => [...g])),
        logits: await logits(model, [1, 20, 300, 4, 319]),
        tokens: await generateTokens(model, [3, 1, 4], { maxNewTokens: 4, stopTokenIds: [] }),
        exported: new Uint8Array(await files['model.safetensors'].arrayBuffer()),
      });
      rt.free(lossSum);
      adapters.dispose();
      model.adapters = null;
      model.dispose();
    }
    const [want, got] = results;
    expect(want.split).toEqual(['dense', 'dense']);
    expect(got.split).toEqual(['blocks', 'blocks']);
    // The same kernels over fewer rows of the weight at a time: equal up to the order of a sum.
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-6);
    expect(relativeError(got.grads, want.grads)).toBeLessThan(1e-5);
    expect(relativeError(got.logits, want.logits)).toBeLessThan(1e-6);
    expect(got.tokens).toEqual(want.tokens);
    expect(got.exported).toEqual(want.exported);
  });
});
