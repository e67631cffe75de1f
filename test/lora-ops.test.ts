// LoRA's ops against float64 references: the four split-K low-rank products (partial tiles, several K chunks,
// accumulate), and dropout's mask (its rate, its scale, and the backward through the same mask).
import { describe, expect, it } from 'vitest';
import { addToOffsets, dropoutBackwardAdd, dropoutForward, groupExpandAdd, groupSum, iecExpandAdd, iecPooledDot, iecPoolAdd, loraDown, loraGradA, loraGradB, loraUpBackward } from '../src/ops';
import { poison, relativeError, testRuntime } from './helpers/gpu';
import { Rng } from './helpers/rng';
import { loraDownRef, loraGradARef, loraGradBRef, loraUpBackwardRef } from './ref/lora';
import { matmulRef } from './ref/matmul';


describe('LoRA low-rank products', () => {
  for (const [N, inF, out, r] of [[37, 300, 70, 4], [130, 64, 200, 16], [5, 1000, 9, 64]]) {
    it(`N=${N} in=${inF} out=${out} r=${r}: h = x·Aᵀ, dh = s·dy·B, dB (+)= s·dyᵀ·h, dA (+)= dhᵀ·x`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(N * r + inF);
      const [x, a, b, dy, h, dh] = [rng.normals(N * inF), rng.normals(r * inF), rng.normals(out * r), rng.normals(N * out), rng.normals(N * r), rng.normals(N * r)];
      const [dA0, dB0] = [rng.normals(r * inF), rng.normals(out * r)];
      const T = (d: Float32Array, shape: number[], label: string) => rt.upload(d, shape, label);
      const [X, A, B, DY, H, DH] = [T(x, [N, inF], 'x'), T(a, [r, inF], 'A'), T(b, [out, r], 'B'), T(dy, [N, out], 'dy'), T(h, [N, r], 'h'), T(dh, [N, r], 'dh')];
      const [Hout, DHout] = [T(poison(N * r), [N, r], 'h out'), T(poison(N * r), [N, r], 'dh out')];
      const [DA, DB] = [T(dA0, [r, inF], 'dA'), T(dB0, [out, r], 'dB')];
      const step = rt.step();
      await loraDown(rt, step, X, A, Hout);
      await loraUpBackward(rt, step, DY, B, DHout, 0.5);
      await loraGradB(rt, step, DY, H, DB, 0.5, true);
      await loraGradA(rt, step, DH, X, DA, true);
      step.submit();
      expect(relativeError((await rt.read(Hout)) as Float32Array, loraDownRef(x, a, N, inF, r))).toBeLessThan(1e-5);
      expect(relativeError((await rt.read(DHout)) as Float32Array, loraUpBackwardRef(dy, b, N, out, r, 0.5))).toBeLessThan(1e-5);
      expect(relativeError((await rt.read(DB)) as Float32Array, loraGradBRef(dy, h, N, out, r, 0.5, dB0))).toBeLessThan(1e-5);
      expect(relativeError((await rt.read(DA)) as Float32Array, loraGradARef(dh, x, N, inF, r, dA0))).toBeLessThan(1e-5);
      rt.free(X, A, B, DY, H, DH, Hout, DHout, DA, DB);
    });
  }
});

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

describe("IEC's ops", () => {
  // The second shape spreads the dot product over 24 workgroups and overwrites the gradient instead of adding to it.
  it.each([[11, 4, 24, true], [300, 8, 40, false]])('pooled add, repeated add and the pooled dot product of a β gradient match float64 (N %i, r %i, G %i, accumulate %s)', async (N, r, G, accumulate) => {
    const rt = await testRuntime();
    const rng = new Rng(62 + N);
    const [wide, narrow, h0, y0] = [rng.normals(N * r * G), rng.normals(N * r), rng.normals(N * r), rng.normals(N * r * G)];
    const beta = Float32Array.of(-0.7);
    const pooled = Float64Array.from({ length: N * r }, (_, i) => {
      let s = 0;
      for (let t = 0; t < G; t++) s += wide[Math.floor(i / r) * r * G + (i % r) * G + t];
      return s;
    });
    const [W, Nw, H, Y, Bt, D] = [rt.upload(wide, [N, r * G], 'wide'), rt.upload(narrow, [N, r], 'narrow'), rt.upload(h0, [N, r], 'h'), rt.upload(y0, [N, r * G], 'y'), rt.upload(beta, [1], 'beta'), rt.upload(Float32Array.of(2), [1], 'grad')];
    const step = rt.step();
    await iecPoolAdd(rt, step, W, H, Bt, 0.5);
    await iecExpandAdd(rt, step, Nw, Y, Bt, 3);
    await iecPooledDot(rt, step, Nw, W, D, 0.25, accumulate);
    step.submit();
    expect(relativeError((await rt.read(H)) as Float32Array, h0.map((v, i) => v + 0.5 * -0.7 * pooled[i]))).toBeLessThan(1e-6);
    expect(relativeError((await rt.read(Y)) as Float32Array, y0.map((v, k) => v + 3 * -0.7 * narrow[Math.floor(k / (r * G)) * r + Math.floor((k % (r * G)) / G)]))).toBeLessThan(1e-6);
    const dot = narrow.reduce((a, v, i) => a + v * pooled[i], 0);
    expect(relativeError((await rt.read(D)) as Float32Array, [(accumulate ? 2 : 0) + 0.25 * dot])).toBeLessThan(1e-5);
    rt.free(W, Nw, H, Y, Bt, D);
  });
});

describe('dropout', () => {
  it('drops about p of the elements, scales the rest by 1/(1 − p), and the backward goes through the same mask', async () => {
    const rt = await testRuntime();
    const rng = new Rng(44);
    const n = 20000;
    const x = rng.normals(n);
    const g = rng.normals(n);
    const before = rng.normals(n);
    const [X, Y, G, DX] = [rt.upload(x, [n], 'x'), rt.upload(poison(n), [n], 'y'), rt.upload(g, [n], 'g'), rt.upload(before, [n], 'dx')];
    const step = rt.step();
    await dropoutForward(rt, step, X, Y, 0.25, 1234);
    await dropoutBackwardAdd(rt, step, G, DX, 0.25, 1234);
    step.submit();
    const y = (await rt.read(Y)) as Float32Array;
    const dx = (await rt.read(DX)) as Float32Array;
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const kept = y[i] !== 0;
      if (!kept) dropped++;
      expect(y[i]).toBeCloseTo(kept ? x[i] / 0.75 : 0, 5);
      expect(dx[i]).toBeCloseTo(before[i] + (kept ? g[i] / 0.75 : 0), 5);
    }
    expect(Math.abs(dropped / n - 0.25)).toBeLessThan(0.015);
    rt.free(X, Y, G, DX);
  });
});
