// LoRA's ops against float64 references: the four split-K low-rank products (partial tiles, several K chunks,
// accumulate), and dropout's mask (its rate, its scale, and the backward through the same mask).
import { describe, expect, it } from 'vitest';
import { dropoutBackwardAdd, dropoutForward, loraDown, loraGradA, loraGradB, loraUpBackward } from '../src/ops';
import { poison, relativeError, testRuntime } from './helpers/gpu';
import { Rng } from './helpers/rng';
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
      const ref = (args: Omit<Parameters<typeof matmulRef>[0], 'batch'>) => Float32Array.from(matmulRef({ batch: 1, ...args }));
      expect(relativeError((await rt.read(Hout)) as Float32Array, ref({ a: x, b: a, M: N, N: r, K: inF, transB: true }))).toBeLessThan(1e-5);
      expect(relativeError((await rt.read(DHout)) as Float32Array, ref({ a: dy, b, M: N, N: r, K: out, alpha: 0.5 }))).toBeLessThan(1e-5);
      expect(relativeError((await rt.read(DB)) as Float32Array, ref({ a: dy, b: h, M: out, N: r, K: N, transA: true, alpha: 0.5, c0: dB0 }))).toBeLessThan(1e-5);
      expect(relativeError((await rt.read(DA)) as Float32Array, ref({ a: dh, b: x, M: r, N: inF, K: N, transA: true, c0: dA0 }))).toBeLessThan(1e-5);
      rt.free(X, A, B, DY, H, DH, Hout, DHout, DA, DB);
    });
  }
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
