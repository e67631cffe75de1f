import { describe, expect, it } from 'vitest';
import { LimitError, ShapeError } from '../../src/gpu';
import { freeQuantized, type Bits, type QuantSpec } from '../../src/quant';
import { quantMatmul, quantMatmulBackward, type QuantMatmulOptions } from '../../src/matmul';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { makeWeight } from '../helpers/quant-weight';
import { Rng } from '../helpers/rng';
import { matmulRef } from './matmul.ref';

/** Y = X·Ŵᵀ (+ y0) through quantMatmul for a given X, and the float64 reference. */
async function forwardResult(
  spec: QuantSpec, M: number, out: number, inFeatures: number, x: Float32Array, seed: number, y0?: Float32Array, options: Omit<QuantMatmulOptions, 'accumulate'> = {},
) {
  const rt = await testRuntime();
  const { qw, dense } = makeWeight(rt, out, inFeatures, spec, seed);
  const X = rt.upload(x, [M, inFeatures], 'x');
  const Y = rt.upload(y0 ?? poison(M * out), [M, out], 'y');
  const step = rt.step();
  await quantMatmul(rt, step, X, qw, Y, { ...options, accumulate: !!y0 });
  step.submit();
  const got = (await rt.read(Y)) as Float32Array;
  rt.free(X, Y);
  freeQuantized(rt, qw);
  return { got, want: matmulRef({ a: x, b: dense, batch: 1, M, N: out, K: inFeatures, transB: true, alpha: options.scale, c0: y0 }) };
}

async function forward(
  spec: QuantSpec, M: number, out: number, inFeatures: number, seed: number, accumulate = false, options: Omit<QuantMatmulOptions, 'accumulate'> = {},
) {
  const rng = new Rng(seed + 1000);
  const x = rng.normals(M * inFeatures);
  const y0 = accumulate ? rng.normals(M * out) : undefined;
  const { got, want } = await forwardResult(spec, M, out, inFeatures, x, seed, y0, options);
  expect(relativeError(got, want)).toBeLessThan(1e-5);
}

async function backward(spec: QuantSpec, M: number, out: number, inFeatures: number, seed: number, tiling: Pick<QuantMatmulOptions, 'tile' | 'tileN' | 'depth' | 'scale'> = {}) {
  const rt = await testRuntime();
  const { qw, dense } = makeWeight(rt, out, inFeatures, spec, seed);
  const dy = new Rng(seed + 2000).normals(M * out);
  const DY = rt.upload(dy, [M, out], 'dy');
  const DX = rt.upload(poison(M * inFeatures), [M, inFeatures], 'dx');
  const step = rt.step();
  await quantMatmulBackward(rt, step, DY, qw, DX, tiling);
  step.submit();
  const got = await rt.read(DX);
  rt.free(DY, DX);
  freeQuantized(rt, qw);
  const want = matmulRef({ a: dy, b: dense, batch: 1, M, N: inFeatures, K: out, alpha: tiling.scale });
  expect(relativeError(got, want)).toBeLessThan(1e-5);
}

const ALL_BITS: Bits[] = [2, 3, 4];
const GROUP_SIZES = [32, 64, 128] as const;

/** The group sizes a format sweep takes for a codebook and width: all three in Chromium; in Node, which compiles the
 *  same WGSL through its own Dawn and runs these kernels about half as fast on SwiftShader (and is the longer of the
 *  two projects), one (rotating), so every codebook, width and group size still runs there once. */
function groupSizes(codebook: 'int' | 'nf', bits: Bits): readonly (32 | 64 | 128)[] {
  if (typeof window !== 'undefined') return GROUP_SIZES;
  return [GROUP_SIZES[(bits + (codebook === 'nf' ? 1 : 0)) % 3]];
}

describe('quantized forward, decode path (M ≤ 8), every format', () => {
  let seed = 10;
  for (const codebook of ['int', 'nf'] as const) {
    for (const bits of ALL_BITS) {
      for (const groupSize of groupSizes(codebook, bits)) {
        const spec: QuantSpec = { codebook, bits, groupSize, calibrate: codebook === 'nf' ? 'icq' : 'none' };
        const s = seed++;
        it(`${codebook}${bits} G=${groupSize}, M = 1 (the default: slices for nf4) and 5 (128-weight units), M = 2 (four codes at a time)`, async () => {
          await forward(spec, 1, 37, 256, s);
          if (codebook === 'nf' && bits === 4) await forward(spec, 1, 37, 256, s + 300, false, { gemv: 'units' });
          await forward(spec, 5, 21, 384, s + 500);
          await forward(spec, 2, 19, 256, s + 700, false, { gemv: 'quads' });
        });
      }
    }
  }
  it('four codes at a time: a row over 1, 32, 64 or 256 invocations, with a partial last workgroup', async () => {
    await forward({ codebook: 'nf', bits: 3, groupSize: 32 }, 2, 37, 160, 4, false, { lanesPerRow: 32 });
    await forward({ codebook: 'nf', bits: 4, groupSize: 64 }, 7, 300, 128, 7, false, { lanesPerRow: 1, gemv: 'quads' });
    await forward({ codebook: 'int', bits: 2, groupSize: 64 }, 3, 19, 320, 6, false, { lanesPerRow: 64 });
    await forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 37, 1216, 5, false, { lanesPerRow: 256 });
  });
  it('128-weight units: a row over 1, 2, 4, 8 or 16 invocations (a partial last chunk), partial last workgroup', async () => {
    await forward({ codebook: 'nf', bits: 3, groupSize: 32 }, 2, 37, 640, 14, false, { lanesPerRow: 8 });
    await forward({ codebook: 'nf', bits: 2, groupSize: 128 }, 7, 300, 128, 17, true, { lanesPerRow: 1 });
    await forward({ codebook: 'int', bits: 3, groupSize: 64 }, 3, 19, 1152, 16, false, { lanesPerRow: 4 });
    await forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 37, 2176, 15, false, { lanesPerRow: 16 });
    await forward({ codebook: 'nf', bits: 4, groupSize: 64 }, 8, 21, 384, 18, false, { lanesPerRow: 2 });
  });
  it('128-weight units, several per invocation and chunk of X, a partial last chunk', async () => {
    await forward({ codebook: 'int', bits: 4, groupSize: 32 }, 1, 37, 1152, 37, false, { lanesPerRow: 2, unitsPerLane: 2 });
    await forward({ codebook: 'nf', bits: 2, groupSize: 64 }, 3, 29, 1280, 38, true, { lanesPerRow: 4, unitsPerLane: 3 });
    await forward({ codebook: 'int', bits: 3, groupSize: 128 }, 2, 19, 896, 39, false, { lanesPerRow: 1, unitsPerLane: 7 });
    await forward({ codebook: 'int', bits: 2, groupSize: 32 }, 2, 37, 384, 41, true, { lanesPerRow: 8, subgroups: false });
    // 4 lanes at 4 bits, 11 units: a partial second chunk.
    await forward({ codebook: 'nf', bits: 4, groupSize: 128 }, 2, 29, 1408, 42, false, { lanesPerRow: 4, unitsPerLane: 2 });
    await expect(forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 8, 256, 1, false, { unitsPerLane: 0 })).rejects.toThrow(/unitsPerLane must be a whole number ≥ 1/);
    await expect(forward({ codebook: 'int', bits: 4, groupSize: 64 }, 8, 8, 4096, 1, false, { lanesPerRow: 4, unitsPerLane: 64 })).rejects.toThrow(/bytes of workgroup memory/);
    await expect(forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 8, 256, 1, false, { gemv: 'quads', unitsPerLane: 2 })).rejects.toThrow(/unitsPerLane needs the 'units' GEMV/);
  });
  it('a row\'s lanes summed by subgroup shuffles or by a tree in workgroup memory, both kernels', async () => {
    const rt = await testRuntime();
    for (const subgroups of rt.subgroupMinSize >= 4 ? [true, false] : [false]) {
      await forward({ codebook: 'int', bits: 3, groupSize: 64 }, 2, 41, 640, 34, false, { lanesPerRow: 4, subgroups });
      await forward({ codebook: 'nf', bits: 4, groupSize: 32 }, 1, 37, 256, 35, true, { lanesPerRow: 2, subgroups });
      await forward({ codebook: 'int', bits: 2, groupSize: 32 }, 3, 23, 160, 36, false, { lanesPerRow: 4, gemv: 'quads', subgroups });
    }
  });
  it('subgroups demanded for more lanes than the smallest subgroup holds is a ShapeError', async () => {
    const rt = await testRuntime();
    if (rt.subgroupMinSize >= 32) return; // a device whose subgroups always hold 32 lanes can do it
    await expect(forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 8, 4096, 1, false, { lanesPerRow: 32, subgroups: true })).rejects.toThrow(/smallest subgroup has \d+ invocations|no 'subgroups' feature/);
  });
  it("'units' with more lanes than its workgroup memory allows is a ShapeError naming the limit", async () => {
    await expect(forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 8, 128, 1, false, { lanesPerRow: 64 })).rejects.toThrow(/at most 32 lanes per row/);
  });
  it("'slices' (X in registers, M = 1): every format, one or two blocks per invocation, partial last workgroup", async () => {
    const rt = await testRuntime();
    if (rt.subgroupMinSize < 4) return;
    let seed = 200;
    for (const codebook of ['int', 'nf'] as const) {
      for (const bits of ALL_BITS) {
        for (const groupSize of groupSizes(codebook, bits)) {
          await forward({ codebook, bits, groupSize }, 1, 37, 384, seed++, false, { gemv: 'slices' });
        }
      }
    }
    // K of 40 blocks (a workgroup of 64, 24 idle), 300 blocks (two per invocation), 4 rows per workgroup; accumulate.
    await forward({ codebook: 'int', bits: 4, groupSize: 64 }, 1, 30, 1280, 230, true, { gemv: 'slices', rowsPerWorkgroup: 4 });
    await forward({ codebook: 'int', bits: 3, groupSize: 64 }, 1, 75, 1280, 234, false, { gemv: 'slices', rowsPerWorkgroup: 12 });
    await forward({ codebook: 'nf', bits: 3, groupSize: 32 }, 1, 45, 9600, 231, false, { gemv: 'slices', rowsPerWorkgroup: 8 });
    await forward({ codebook: 'int', bits: 2, groupSize: 128, doubleQuant: true }, 1, 70, 9600, 232, true, { gemv: 'slices', rowsPerWorkgroup: 64 });
    await forward({ codebook: 'nf', bits: 4, groupSize: 64, doubleQuant: true }, 1, 33, 512, 233, false, { gemv: 'slices' });
  });
  it("'slices' on what it cannot take is a ShapeError naming the reason", async () => {
    const rt = await testRuntime();
    const spec: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
    await expect(forward(spec, 2, 8, 256, 1, false, { gemv: 'slices' })).rejects.toThrow(/'slices' GEMV takes M = 1, got 2/);
    await expect(forward(spec, 1, 8, 192, 1, false, { gemv: 'slices' })).rejects.toThrow(/needs in % 128 = 0, got 192/);
    await expect(forward(spec, 1, 8, 16512, 1, false, { gemv: 'slices' })).rejects.toThrow(/takes in ≤ 16384, got 16512/);
    if (rt.subgroupMinSize >= 4) {
      await expect(forward(spec, 1, 8, 256, 1, false, { gemv: 'slices', rowsPerWorkgroup: 6 })).rejects.toThrow(/rowsPerWorkgroup must be a multiple of 4 from 4 to 64, got 6/);
      await expect(forward(spec, 1, 8, 256, 1, false, { gemv: 'slices', lanesPerRow: 8 })).rejects.toThrow(/subgroups: false are not options of the 'slices' GEMV/);
    }
    await expect(forward(spec, 1, 8, 256, 1, false, { rowsPerWorkgroup: 8 })).rejects.toThrow(/rowsPerWorkgroup needs the 'slices' GEMV/);
  });
  it("'units' on in % 128 ≠ 0 is a ShapeError, not a silent fallback", async () => {
    await expect(forward({ codebook: 'int', bits: 4, groupSize: 32 }, 1, 8, 96, 1, false, { gemv: 'units' })).rejects.toThrow(/needs in % 128 = 0, got 96/);
  });
  it('double-quantized statistics (8-bit codes, 256-group blocks), nf4 and int3, M = 1 and 6', async () => {
    await forward({ codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq', doubleQuant: true }, 1, 300, 128, 91);
    await forward({ codebook: 'int', bits: 3, groupSize: 32, doubleQuant: true }, 6, 37, 256, 92, true);
    await forward({ codebook: 'int', bits: 2, groupSize: 128, doubleQuant: true }, 3, 37, 256, 95, false, { gemv: 'quads' });
  });
  it('M = 8 accumulates into the output', () => forward({ codebook: 'int', bits: 4, groupSize: 64 }, 8, 19, 128, 3, true));
  it('X spanning 12 decades stays within the f32 tolerance; an Inf or a NaN in X makes its row of Y non-finite', async () => {
    const wide = new Rng(93).normals(2 * 512).map((v, i) => v * 10 ** (((i * 7919) % 13) - 6));
    const bad = new Rng(94).normals(3 * 256);
    bad[40] = Infinity;
    bad[256 + 200] = NaN;
    for (const bits of [2, 3, 4] as Bits[]) {
      const spec: QuantSpec = { codebook: 'int', bits, groupSize: 64 };
      const w = await forwardResult(spec, 2, 29, 512, wide, 77);
      expect(relativeError(w.got, w.want)).toBeLessThan(1e-5);
      const b = await forwardResult(spec, 3, 23, 256, bad, 77);
      expect(b.got.subarray(0, 46).every((v) => !Number.isFinite(v))).toBe(true);
      expect(relativeError(b.got.subarray(46), b.want.subarray(46))).toBeLessThan(1e-5);
    }
  });
});

describe('quantized forward and backward-input, tiled path (M > 8)', () => {
  let seed = 50;
  for (const codebook of ['int', 'nf'] as const) {
    for (const bits of ALL_BITS) {
      for (const groupSize of groupSizes(codebook, bits)) {
        const spec: QuantSpec = { codebook, bits, groupSize, calibrate: 'icq' };
        const s = seed;
        seed += 3;
        it(`${codebook}${bits} G=${groupSize}: forward M=70 (64×64 tiles; and 128×64, B fetched per 32-code block), backward M=13`, async () => {
          await forward(spec, 70, 45, 384, s);
          await forward(spec, 70, 45, 384, s + 1, false, { tile: 8, tileN: 4, depth: 16 });
          await backward(spec, 13, 45, 384, s + 2);
        });
      }
    }
  }
  it('forward on the vec4 path with 128×128 tiles accumulates, at K-depths 8 (the default), 16 and 32', async () => {
    await forward({ codebook: 'nf', bits: 4, groupSize: 128 }, 132, 136, 256, 77, true, { tile: 8 });
    await forward({ codebook: 'int', bits: 3, groupSize: 32 }, 132, 136, 256, 79, false, { tile: 8, depth: 16 });
    // K-depth 32 with G = 32: every K tile starts a new group.
    await forward({ codebook: 'int', bits: 4, groupSize: 32, doubleQuant: true }, 132, 136, 256, 76, false, { tile: 8, depth: 32 });
  });
  it('forward on 128×128 tiles (raw codes fetched, decoded after the tile): 2, 3 and 4 bits, DQ, partial tiles', async () => {
    await forward({ codebook: 'int', bits: 2, groupSize: 32 }, 132, 136, 160, 80, false, { tile: 8 });
    await forward({ codebook: 'nf', bits: 3, groupSize: 64 }, 140, 131, 192, 81, true, { tile: 8 });
    await forward({ codebook: 'int', bits: 4, groupSize: 32, doubleQuant: true }, 129, 260, 96, 82, false, { tile: 8 });
  });
  it('forward on 128×64 tiles (a 32-code block per row fetched every 2 K tiles): every bit width, odd blocks per row, partial tiles, DQ', async () => {
    const tiles = { tile: 8, tileN: 4, depth: 16 } as const;
    // in = 160 at G = 32: five blocks per row, so 2-bit rows start in either half of a vec4 of codes.
    await forward({ codebook: 'int', bits: 2, groupSize: 32 }, 130, 70, 160, 83, true, tiles);
    await forward({ codebook: 'nf', bits: 3, groupSize: 64 }, 129, 65, 192, 84, false, tiles);
    await forward({ codebook: 'nf', bits: 4, groupSize: 128 }, 140, 131, 256, 85, false, tiles);
    await forward({ codebook: 'int', bits: 4, groupSize: 32, doubleQuant: true }, 70, 200, 96, 86, true, tiles);
    // 64×64 tiles fetch that way with DQ statistics only.
    await forward({ codebook: 'int', bits: 3, groupSize: 32, doubleQuant: true }, 70, 45, 224, 87, false, { tile: 4 });
  });
  it('double-quantized statistics: forward M=70 and backward M=13', async () => {
    const spec: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 32, calibrate: 'icq', doubleQuant: true };
    await forward(spec, 70, 45, 192, 93);
    await backward(spec, 13, 300, 64, 94);
  });
  it('backward on 128×128 tiles', () => backward({ codebook: 'int', bits: 2, groupSize: 32 }, 64, 132, 160, 78, { tile: 8 }));
  it('backward with each tile\'s statistics in workgroup memory (128×64 and 64×64 tiles): 2, 1 and ½ groups per tile row, partial K tiles, one and two K tiles', async () => {
    const tiles = { tile: 8, tileN: 4, depth: 16 } as const;
    await backward({ codebook: 'int', bits: 3, groupSize: 32 }, 130, 45, 192, 95, tiles);
    await backward({ codebook: 'nf', bits: 4, groupSize: 64 }, 70, 77, 320, 96, { ...tiles, scale: -0.5 });
    await backward({ codebook: 'int', bits: 2, groupSize: 128 }, 129, 21, 256, 97, tiles);
    await backward({ codebook: 'nf', bits: 2, groupSize: 128 }, 40, 35, 384, 98, { tile: 4, depth: 32 });
    // One and two K tiles (out = 12, 20 at K-depth 16).
    await backward({ codebook: 'int', bits: 4, groupSize: 64 }, 40, 12, 128, 99, tiles);
    await backward({ codebook: 'nf', bits: 3, groupSize: 32 }, 40, 20, 128, 100, tiles);
  });
  it('backward over 5 × 5 tiles, taken in groups of 4 M-blocks and a last group of 1', () =>
    backward({ codebook: 'nf', bits: 4, groupSize: 64 }, 300, 72, 320, 79, { tile: 4 }));
  it('128×64 and 64×128 tiles, forward and backward', async () => {
    await forward({ codebook: 'int', bits: 3, groupSize: 32 }, 132, 72, 160, 90, true, { tile: 8, tileN: 4, depth: 16 });
    await forward({ codebook: 'nf', bits: 4, groupSize: 64 }, 70, 136, 128, 91, false, { tile: 4, tileN: 8, depth: 16 });
    await backward({ codebook: 'int', bits: 4, groupSize: 32 }, 136, 96, 192, 92, { tile: 8, tileN: 4, depth: 16 });
  });
});

describe('quantized matmul scales its product (scale)', () => {
  it('on every decode kernel, stacked parts, the GEMM tilings and the backward, with and without accumulate', async () => {
    const nf4: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
    const int4: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
    await forward(nf4, 1, 40, 256, 101, true, { scale: -0.37 }); // slices (the default for nf4 at M = 1)
    await forward(int4, 1, 40, 256, 102, false, { scale: 2.5 }); // units
    await forward({ ...int4, groupSize: 32 }, 2, 40, 224, 103, true, { scale: 0.5, gemv: 'quads' });
    await forward(int4, 5, 40, 256, 104, true, { scale: -3 }); // units, M = 5
    await forward(int4, 1, 40, 256, 105, false, { scale: 0.25, parts: [16, 8, 16] }); // M = 1: the blocks are Y's row
    await forward({ ...int4, doubleQuant: true }, 70, 45, 192, 106, true, { scale: 1.75 }); // 64×64 tiles, block fetch
    await forward({ codebook: 'int', bits: 3, groupSize: 32 }, 132, 136, 160, 107, false, { scale: -0.5, tile: 8 }); // 128×128
    await backward(nf4, 13, 45, 192, 108, { scale: -2 });
  });
  it('a scale that is not a finite number is a RangeError naming the weight', async () => {
    const rt = await testRuntime();
    const { qw } = makeWeight(rt, 8, 64, { codebook: 'int', bits: 4, groupSize: 32 }, 1);
    const X = rt.tensor([2, 64], 'f32', 'x');
    const Y = rt.tensor([2, 8], 'f32', 'y');
    for (const scale of [Number.NaN, Number.POSITIVE_INFINITY, '2' as unknown as number]) {
      await expect(quantMatmul(rt, rt.step(), X, qw, Y, { scale })).rejects.toThrow(/quantMatmul\(w\): scale must be a finite number/);
      await expect(quantMatmulBackward(rt, rt.step(), Y, qw, X, { scale })).rejects.toThrow(RangeError);
    }
    rt.free(X, Y);
    freeQuantized(rt, qw);
  });
});

describe('quantized matmul past maxStorageBufferBindingSize', () => {
  it('is a LimitError naming the limit and the tensor, forward (GEMV and GEMM) and backward', async () => {
    const rt = await testRuntime();
    const { qw } = makeWeight(rt, 8, 64, { codebook: 'int', bits: 4, groupSize: 32 }, 1);
    const small = rt.tensor([2, 64], 'f32', 'x');
    const Y = rt.tensor([2, 8], 'f32', 'y');
    // Views that claim more bytes than one binding holds, over small buffers: nothing may be bound or run.
    const max = rt.device.limits.maxStorageBufferBindingSize;
    const rowsIn = Math.floor(max / 256) + 1;
    const X = { ...small, shape: [rowsIn, 64], label: 'hidden' };
    const bigY = { ...Y, shape: [rowsIn, 8], label: 'logits' };
    await expect(quantMatmul(rt, rt.step(), X, qw, bigY)).rejects.toThrow(/tensor 'hidden'.*maxStorageBufferBindingSize/);
    // A weight with more rows than its codes' binding holds (a large LM head), at M = 1.
    const rows = Math.floor(max / 32) + 1;
    const tall = { ...qw, out: rows, codes: { ...qw.codes, shape: [rows, 8] }, stats: { ...qw.stats, shape: [rows, 2, 2] } };
    const oneRow = { ...small, shape: [1, 64] };
    await expect(quantMatmul(rt, rt.step(), oneRow, tall, { ...Y, shape: [1, rows] })).rejects.toThrow(/tensor 'w\.codes'.*maxStorageBufferBindingSize/);
    await expect(quantMatmulBackward(rt, rt.step(), { ...bigY, label: 'dy' }, qw, X)).rejects.toThrow(/maxStorageBufferBindingSize/);
    rt.free(small, Y);
    freeQuantized(rt, qw);
  });
});

describe('quantized matmul rejects bad shapes', () => {
  it('names the weight and the tensor', async () => {
    const rt = await testRuntime();
    const { qw } = makeWeight(rt, 8, 64, { codebook: 'int', bits: 4, groupSize: 32 }, 1);
    const X = rt.tensor([2, 48], 'f32', 'hidden');
    const Y = rt.tensor([2, 8], 'f32', 'y');
    await expect(quantMatmul(rt, rt.step(), X, qw, Y)).rejects.toThrow(ShapeError);
    await expect(quantMatmul(rt, rt.step(), X, qw, Y)).rejects.toThrow(/quantMatmul\(w\): input 'hidden'.*expected f32 \[M, 64\]/);
    rt.free(X, Y);
  freeQuantized(rt, qw);
  });
});
