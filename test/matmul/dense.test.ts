import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu';
import { matmul } from '../../src/matmul';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { matmulRef } from './matmul.ref';

interface Case {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  tile?: 4 | 8;
  tileN?: 4 | 8;
  depth?: 8 | 16 | 32;
  alpha?: number;
  accumulate?: boolean;
}

async function check(c: Case, seed: number) {
  const rt = await testRuntime();
  const rng = new Rng(seed);
  const { batch, M, N, K } = c;
  const a = rng.normals(batch * M * K);
  const b = rng.normals(batch * K * N);
  const c0 = c.accumulate ? rng.normals(batch * M * N) : undefined;
  const shapeA = c.transA ? [K, M] : [M, K];
  const shapeB = c.transB ? [N, K] : [K, N];
  const lead = batch > 1 ? [batch] : [];
  const A = rt.upload(a, [...lead, ...shapeA], 'A');
  const B = rt.upload(b, [...lead, ...shapeB], 'B');
  const C = rt.upload(c0 ?? poison(batch * M * N), [...lead, M, N], 'C');
  const step = rt.step();
  await matmul(rt, step, A, B, C, c);
  step.submit();
  const got = await rt.read(C);
  rt.free(A, B, C);
  const want = matmulRef({ a, b, ...c, c0 });
  expect(got.some(Number.isNaN)).toBe(false);
  expect(relativeError(got, want)).toBeLessThan(1e-5);
}

describe('matmul matches the float64 reference', () => {
  const cases: Case[] = [
    { batch: 1, M: 1, N: 1, K: 1, transA: false, transB: false },
    { batch: 1, M: 33, N: 17, K: 29, transA: false, transB: false },
    { batch: 1, M: 33, N: 17, K: 29, transA: false, transB: true },
    { batch: 1, M: 33, N: 17, K: 29, transA: true, transB: false },
    { batch: 1, M: 33, N: 17, K: 29, transA: true, transB: true },
    { batch: 1, M: 130, N: 70, K: 45, transA: false, transB: true, tile: 8 },
    { batch: 1, M: 64, N: 96, K: 80, transA: false, transB: false, tile: 4 },
    { batch: 1, M: 64, N: 96, K: 80, transA: true, transB: true, tile: 8 },
    { batch: 1, M: 136, N: 132, K: 36, transA: false, transB: true, tile: 8 },
    { batch: 1, M: 20, N: 12, K: 200, transA: true, transB: false, tile: 4 },
    { batch: 3, M: 19, N: 23, K: 31, transA: false, transB: true },
    { batch: 2, M: 40, N: 36, K: 28, transA: true, transB: false, tile: 8 },
    { batch: 1, M: 132, N: 68, K: 72, transA: false, transB: false, tile: 8, depth: 8 },
    { batch: 1, M: 45, N: 70, K: 81, transA: true, transB: true, tile: 8, depth: 8 },
    { batch: 1, M: 68, N: 72, K: 100, transA: false, transB: true, tile: 4, depth: 32 },
    { batch: 1, M: 31, N: 29, K: 77, transA: true, transB: false, tile: 8, depth: 32 },
    { batch: 1, M: 140, N: 70, K: 45, transA: false, transB: true, tile: 8, tileN: 4, depth: 16 },
    { batch: 2, M: 40, N: 136, K: 36, transA: true, transB: false, tile: 4, tileN: 8, depth: 16 },
    // Automatic 128×64 tiles: 130 workgroups of 128×128, 258 of 128×64.
    { batch: 1, M: 130, N: 8200, K: 12, transA: false, transB: true },
    // A·Bᵀ with M ≤ 8 and K % 4 = 0 takes the dense GEMV path.
    { batch: 1, M: 1, N: 37, K: 132, transA: false, transB: true },
    { batch: 1, M: 5, N: 300, K: 20, transA: false, transB: true, accumulate: true },
    // the dense decode GEMV (M ≤ 8, A·Bᵀ) scales by alpha too
    { batch: 1, M: 3, N: 70, K: 36, transA: false, transB: true, alpha: -1.5, accumulate: true },
    { batch: 1, M: 8, N: 9, K: 4, transA: false, transB: true },
  ];
  cases.forEach((c, i) => {
    const name = `${c.batch}×${c.M}×${c.N}×${c.K} transA=${c.transA} transB=${c.transB} tile=${c.tile ?? 'auto'}${c.tileN ? `×${c.tileN}` : ''} depth=${c.depth ?? 16}`;
    it(name, () => check(c, 100 + i));
  });

  it('scales by alpha and accumulates into C', () =>
    check({ batch: 1, M: 45, N: 38, K: 21, transA: false, transB: true, alpha: -0.75, accumulate: true }, 7));
  it('accumulates on the vec4 path', () =>
    check({ batch: 2, M: 32, N: 64, K: 48, transA: false, transB: false, alpha: 0.5, accumulate: true, tile: 8 }, 8));
});

describe('matmul rejects bad shapes', () => {
  it('names both tensors when the inner dimensions differ', async () => {
    const rt = await testRuntime();
    const A = rt.tensor([4, 5], 'f32', 'acts');
    const B = rt.tensor([6, 4], 'f32', 'weight');
    const C = rt.tensor([4, 6], 'f32', 'out');
    await expect(matmul(rt, rt.step(), A, B, C)).rejects.toThrow(ShapeError);
    await expect(matmul(rt, rt.step(), A, B, C)).rejects.toThrow(/'acts'.*'weight'/);
    rt.free(A, B, C);
  });

  it('rejects an output of the wrong shape', async () => {
    const rt = await testRuntime();
    const A = rt.tensor([4, 5], 'f32', 'A');
    const B = rt.tensor([6, 5], 'f32', 'B');
    const C = rt.tensor([6, 4], 'f32', 'C');
    await expect(matmul(rt, rt.step(), A, B, C, { transB: true })).rejects.toThrow(/output 'C'.*expected f32 \[4,6\]/);
    rt.free(A, B, C);
  });
});
