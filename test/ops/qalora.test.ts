// QA-LoRA's group ops (src/ops/qalora.ts): the pooled input, its gradient spread back, and the offsets folded in.
import { describe, expect, it } from 'vitest';
import { addToOffsets, groupExpandAdd, groupSum, loraDown } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { matmulRef } from '../matmul/matmul.ref';

describe('QA-LoRA group ops', () => {
  it('pooled loraDown equals the group sums times Aᵀ; group sums, their spread back, and the offsets fold', async () => {
    const rt = await testRuntime();
    const rng = new Rng(61);
    const [N, inF, G, r, out] = [13, 96, 32, 8, 5];
    const cols = inF / G;
    const [x, a, t, dx0, c] = [rng.normals(N * inF), rng.normals(r * cols), rng.normals(N * cols), rng.normals(N * inF), rng.normals(out * cols)];
    const stats0 = rng.normals(out * cols * 2);
    const xbar = new Float32Array(N * cols);
    for (let n = 0; n < N; n++) for (let i = 0; i < inF; i++) xbar[n * cols + Math.floor(i / G)] += x[n * inF + i];
    const [X, A, Tt, DX, C, S] = [rt.upload(x, [N, inF], 'x'), rt.upload(a, [r, cols], 'A'), rt.upload(t, [N, cols], 't'), rt.upload(dx0, [N, inF], 'dx'), rt.upload(c, [out, cols], 'c'), rt.upload(stats0, [out, cols, 2], 'stats')];
    const [H, XB] = [rt.upload(poison(N * r), [N, r], 'h'), rt.upload(poison(N * cols), [N, cols], 'xbar')];
    const step = rt.step();
    await loraDown(rt, step, X, A, H, G);
    await groupSum(rt, step, X, XB, G);
    await groupExpandAdd(rt, step, Tt, DX, G);
    await addToOffsets(rt, step, C, S);
    step.submit();
    expect(relativeError((await rt.read(H)) as Float32Array, Float32Array.from(matmulRef({ a: xbar, b: a, batch: 1, M: N, N: r, K: cols, transB: true })))).toBeLessThan(1e-5);
    expect(relativeError((await rt.read(XB)) as Float32Array, xbar)).toBeLessThan(1e-6);
    expect(relativeError((await rt.read(DX)) as Float32Array, dx0.map((v, i) => v + t[Math.floor(i / inF) * cols + Math.floor((i % inF) / G)]))).toBeLessThan(1e-6);
    expect(relativeError((await rt.read(S)) as Float32Array, stats0.map((v, i) => (i % 2 ? v + c[(i - 1) / 2] : v)))).toBeLessThan(1e-6);
    rt.free(X, A, Tt, DX, C, S, H, XB);
  });
});
