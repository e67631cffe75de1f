// The f16 matrix path where CI can see it: its numerics as a float64 reference, its kernel's template, and the
// runtime's choice and fallback on an adapter without matrix units (SwiftShader). The kernels themselves are
// checked on a GPU that has them (bench/matrix-suite.ts, BENCHMARKS.md).
import { describe, expect, it } from 'vitest';
import { renderWgsl, ShapeError } from '../../src/gpu';
import { f16ProductBound, quantMatmul, quantMatmulBackward } from '../../src/matmul';
import { MATMUL_WGSL } from '../../src/matmul/wgsl';
import { freeQuantized } from '../../src/quant';
import { testRuntime } from '../helpers/gpu';
import { makeWeight } from '../helpers/quant-weight';
import { Rng } from '../helpers/rng';
import { matmulF16Ref, roundF16 } from './matmul-f16.ref';

describe('binary16 rounding of the reference', () => {
  it('rounds to nearest, ties to even, through the subnormals, to ±∞ past 65504', () => {
    const cases: [number, number][] = [
      [1, 1], [1 + 2 ** -11, 1], [1 + 3 * 2 ** -11, 1 + 2 ** -9], [1 + 2 ** -10, 1 + 2 ** -10], [-2.5, -2.5],
      [65504, 65504], [65519.99, 65504], [65520, Infinity], [-1e6, -Infinity],
      [2 ** -14, 2 ** -14], [2 ** -24, 2 ** -24], [2 ** -25, 0], [3 * 2 ** -25, 2 ** -23], [1.4 * 2 ** -24, 2 ** -24],
      [0.1, 0.0999755859375], [1 / 3, 0.333251953125],
    ];
    for (const [x, want] of cases) expect(roundF16(x)).toBe(want);
  });
});

describe('the f16 scheme: scaled rows, f16 operands, exact sums', () => {
  const [M, N, K] = [12, 10, 96];
  const rng = new Rng(41);
  const w = rng.normals(N * K, 0.05);
  // Rows from 2^-40 to 2^30 in magnitude: gradients far below f16's normals, activations far above its range.
  const a = Float32Array.from(rng.normals(M * K), (v, i) => v * 2 ** (-40 + 7 * Math.floor(i / K) - (i % 3)));
  const exact = (m: number, n: number) => {
    let s = 0;
    let magnitude = 0;
    for (let k = 0; k < K; k++) {
      s += a[m * K + k] * w[n * K + k];
      magnitude += Math.abs(a[m * K + k] * w[n * K + k]);
    }
    return { s, magnitude };
  };

  it('stays within f16ProductBound of the exact product on every row, whatever its magnitude', () => {
    const got = matmulF16Ref(a, w, M, N, K, true);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const { s, magnitude } = exact(m, n);
        expect(Math.abs(got[m * N + n] - s)).toBeLessThanOrEqual(f16ProductBound(K) * magnitude);
      }
    }
  });

  it('without the row scaling, large rows overflow to non-finite and small rows vanish', () => {
    const got = matmulF16Ref(a, w, M, N, K, true, false);
    expect(Number.isFinite(got[(M - 1) * N])).toBe(false); // 2^37-sized row
    expect(got[0]).toBe(0); // 2^-40-sized row: all below f16's smallest subnormal
  });

  it('the backward orientation (B = Ŵ) agrees with the forward one on the transposed weight', () => {
    const wt = new Float32Array(K * N);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wt[k * N + n] = w[n * K + k];
    expect(Array.from(matmulF16Ref(a, wt, M, N, K, false))).toEqual(Array.from(matmulF16Ref(a, w, M, N, K, true)));
  });
});

describe('the matrix kernel template', () => {
  it('renders every format, direction, tiling and spelling with no value left open', () => {
    for (const TRANS_B of [0, 1]) {
      for (const [BITS, CODES4] of [[2, 1], [3, 0], [4, 1]]) {
        for (const DQ of [0, 1]) {
          for (const [FM, FN, WM, WN, BK, DB, AGLOBAL, UNROLL] of [[4, 4, 2, 2, 32, 0, 0, 1], [2, 4, 4, 2, 64, 1, 1, 1], [4, 2, 2, 2, 32, 1, 0, 0], [4, 4, 2, 2, 32, 0, 1, 0]]) {
            for (const LAYOUT of [0, 1]) {
              const values = { SM: 16, SN: 16, SK: 16, FM, FN, WM, WN, SG: 32, BK, DB, AGLOBAL, TRANS_B, SCALE_BINDING: 6 + DQ, LAYOUT, UNROLL, FM4: +(FM === 4), BITS, GROUP_SIZE: 64, NF: 1, DQ, CODES4 };
              const code = renderWgsl('matmul_mma', MATMUL_WGSL['matmul_mma.wgsl'], values, MATMUL_WGSL);
              expect(code).not.toMatch(/\{\{|\/\/#/);
              expect(code).toContain(`@binding(${6 + DQ}) var<storage, read> rowScale`);
              expect(code).toContain(AGLOBAL ? 'var<storage, read> A: array<f16>' : 'var<workgroup> As');
              expect(code.includes('row_major') || code.includes('col_major')).toBe(LAYOUT === 1);
              expect(code.includes('c33 = subgroupMatrixMultiplyAccumulate')).toBe(UNROLL === 1 && FM === 4);
              expect(code.includes('acc[i][j] = subgroupMatrixMultiplyAccumulate')).toBe(UNROLL === 0);
            }
          }
        }
      }
    }
    const scaleRows = renderWgsl('scale_rows_f16', MATMUL_WGSL['scale_rows_f16.wgsl'], {}, MATMUL_WGSL);
    expect(scaleRows).toContain('fn f16RowScale');
    expect(scaleRows).toContain('fn workgroupMax');
  });
});

describe('the runtime on an adapter without matrix units', () => {
  it('takes the f32 path and says why', async () => {
    const rt = await testRuntime();
    const path = rt.capabilities.matmul;
    expect(path).toMatchObject({ kind: 'f32', checked: true });
    expect(path.why).toMatch(/shader-f16/);
  });

  it('refuses matrix: true on a quantized GEMM with a ShapeError that says why', async () => {
    const rt = await testRuntime();
    const { qw } = makeWeight(rt, 32, 64, { codebook: 'nf', bits: 4, groupSize: 64 }, 3);
    const x = rt.tensor([16, 64], 'f32', 'x');
    const y = rt.tensor([16, 32], 'f32', 'y');
    await expect(quantMatmul(rt, rt.step(), x, qw, y, { matrix: true })).rejects.toThrow(ShapeError);
    await expect(quantMatmulBackward(rt, rt.step(), y, qw, x, { matrix: true })).rejects.toThrow(/f16 matrix path.*shader-f16/);
    rt.free(x, y);
    freeQuantized(rt, qw);
  });
});
