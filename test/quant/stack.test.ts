import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu';
import { freeQuantized, QuantFormatError, stackProblem, stackQuantized, type QuantizedWeight, type QuantSpec } from '../../src/quant';
import { quantMatmul, type QuantMatmulOptions } from '../../src/matmul';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { makeWeight } from '../helpers/quant-weight';
import { Rng } from '../helpers/rng';
import { matmulRef } from '../matmul/matmul.ref';

/** Weights of `rows` each (same input and format), their dequantized values, and X [M, in]. */
async function parts(spec: QuantSpec, rows: number[], inFeatures: number, seed: number) {
  const rt = await testRuntime();
  const made = rows.map((r, i) => makeWeight(rt, r, inFeatures, spec, seed + i));
  made.forEach((m, i) => Object.assign(m.qw, { name: `part${i}` }));
  return { rt, weights: made.map((m) => m.qw), dense: made.map((m) => m.dense) };
}

/** Y of the stacked weight, each part's block against X·W_pᵀ (+ its old values). */
async function checkStacked(spec: QuantSpec, rows: number[], inFeatures: number, M: number, seed: number, options: QuantMatmulOptions = {}) {
  const { rt, weights, dense } = await parts(spec, rows, inFeatures, seed);
  const stacked = stackQuantized(rt, weights, 'qkv');
  const x = new Rng(seed + 100).normals(M * inFeatures);
  const out = rows.reduce((a, b) => a + b, 0);
  const y0 = options.accumulate ? new Rng(seed + 200).normals(M * out) : poison(M * out);
  const X = rt.upload(x, [M, inFeatures], 'x');
  const Y = rt.upload(y0, [M, out], 'y');
  const step = rt.step();
  await quantMatmul(rt, step, X, stacked.weight, Y, { ...options, parts: stacked.rows });
  step.submit();
  const got = await rt.read(Y);
  let start = 0;
  rows.forEach((r, p) => {
    const block = got.subarray(M * start, M * (start + r));
    const c0 = options.accumulate ? y0.subarray(M * start, M * (start + r)) : undefined;
    const want = matmulRef({ a: x, b: dense[p], batch: 1, M, N: r, K: inFeatures, transB: true, c0 });
    expect(relativeError(block, want)).toBeLessThan(1e-5);
    start += r;
  });
  rt.free(X, Y);
  freeQuantized(rt, stacked.weight);
}

describe('stacked quantized weights (q, k, v as one GEMV launch)', () => {
  const int4: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
  it('one launch gives each part its own [M, rows] block: M = 1, 3, 8, units, slices and quads kernels', async () => {
    await checkStacked(int4, [64, 32, 32], 256, 1, 10);
    await checkStacked({ codebook: 'nf', bits: 4, groupSize: 64 }, [64, 32, 32], 384, 1, 15, { accumulate: true, rowsPerWorkgroup: 12 }); // slices, parts inside workgroups
    await checkStacked({ codebook: 'nf', bits: 3, groupSize: 32 }, [128, 64, 64], 128, 3, 11);
    await checkStacked({ codebook: 'int', bits: 2, groupSize: 128 }, [64, 64], 256, 8, 12, { gemv: 'quads' });
  });

  it('accumulates, with double-quantized statistics and an odd last part', async () => {
    // Parts start on whole blocks of the statistics' parameters: 4096 groups (16 B each, 256-byte offsets).
    await checkStacked({ codebook: 'nf', bits: 4, groupSize: 32, doubleQuant: true }, [1024, 1024, 21], 128, 2, 13, { accumulate: true });
  });

  it('M > 8 runs a GEMM per part into its block', () => checkStacked(int4, [64, 32, 32], 128, 16, 14));

  it('each part, as a view, gives what the weight gave before stacking', async () => {
    const { rt, weights } = await parts({ codebook: 'int', bits: 3, groupSize: 64 }, [64, 64, 128], 128, 20);
    const X = rt.upload(new Rng(21).normals(2 * 128), [2, 128], 'x');
    const run = async (w: QuantizedWeight) => {
      const Y = rt.upload(poison(2 * w.out), [2, w.out], 'y');
      const step = rt.step();
      await quantMatmul(rt, step, X, w, Y);
      step.submit();
      const got = await rt.read(Y);
      rt.free(Y);
      return got;
    };
    const before = [];
    for (const w of weights) before.push(await run(w));
    const stacked = stackQuantized(rt, weights, 'qkv');
    for (const [i, part] of stacked.parts.entries()) expect(await run(part)).toEqual(before[i]);
    rt.free(X);
    freeQuantized(rt, stacked.weight);
  });

  it('names why weights cannot be stacked, and frees nothing then', async () => {
    const { rt, weights } = await parts({ codebook: 'int', bits: 4, groupSize: 64 }, [3, 64], 128, 30);
    expect(stackProblem(rt, weights)).toMatch(/row 3 starts at byte offsets 192 .* minStorageBufferOffsetAlignment 256/);
    expect(() => stackQuantized(rt, weights, 'qkv')).toThrow(QuantFormatError);
    const other = makeWeight(rt, 64, 256, { codebook: 'int', bits: 4, groupSize: 64 }, 31).qw;
    expect(stackProblem(rt, [weights[1], other])).toMatch(/differs .* in input size or format/);
    expect(stackProblem(rt, [weights[1]])).toMatch(/2 or 3 weights/);
    const read = await rt.read(weights[0].codes); // still there
    expect(read.length).toBe(3 * 16);
    for (const w of [...weights, other]) freeQuantized(rt, w);
  });

  it('names a stack that would be more than one binding holds (each part alone fits)', async () => {
    const { rt, weights } = await parts({ codebook: 'int', bits: 4, groupSize: 64 }, [64, 64], 128, 35);
    // Parts that claim more rows than they hold: only their sizes are read, nothing is allocated or copied.
    const rows = Math.floor(rt.device.limits.maxStorageBufferBindingSize / 64 / 2) + 64;
    const claimed = weights.map((w) => ({ ...w, out: rows }));
    expect(stackProblem(rt, claimed)).toMatch(/joined codes would be \d+ bytes, more than one buffer holds here/);
    const inUse = rt.pool.stats.bytesInUse;
    expect(() => stackQuantized(rt, claimed, 'gate_up')).toThrow(QuantFormatError);
    expect(rt.pool.stats.bytesInUse).toBe(inUse);
    expect(stackProblem(rt, weights)).toBeNull();
    for (const w of weights) freeQuantized(rt, w);
  });

  it('rejects parts that do not add up, and a GEMM block off the offset alignment', async () => {
    const { rt, weights } = await parts({ codebook: 'int', bits: 4, groupSize: 64 }, [32, 96], 128, 40);
    const stacked = stackQuantized(rt, weights, 'gate_up');
    const X = rt.tensor([13, 128], 'f32', 'x');
    const Y = rt.tensor([13, 128], 'f32', 'y');
    await expect(quantMatmul(rt, rt.step(), X, stacked.weight, Y, { parts: [32, 95] })).rejects.toThrow(/adding up to the weight's 128 rows/);
    await expect(quantMatmul(rt, rt.step(), X, stacked.weight, Y, { parts: stacked.rows })).rejects.toThrow(ShapeError);
    await expect(quantMatmul(rt, rt.step(), X, stacked.weight, Y, { parts: stacked.rows })).rejects.toThrow(/part 1's block of 'y' starts at byte 1664/);
    rt.free(X, Y);
    freeQuantized(rt, stacked.weight);
  });
});
