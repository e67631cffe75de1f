import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu';
import { add, copy4, mul, scale } from '../../src/ops';
import { poison, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { addRef, mulRef, scaleRef } from './elementwise.ref';

describe('elementwise ops match the reference exactly', () => {
  for (const n of [1, 255, 257, 1000]) {
    it(`add, mul and scale on ${n} elements`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(n);
      const a = rng.normals(n);
      const b = rng.normals(n);
      const [A, B] = [rt.upload(a, [n], 'a'), rt.upload(b, [n], 'b')];
      const [S, P, Q] = [0, 1, 2].map((i) => rt.upload(poison(n), [n], `out${i}`));
      const step = rt.step();
      await add(rt, step, A, B, S);
      await mul(rt, step, A, B, P);
      await scale(rt, step, A, -1.5, Q);
      step.submit();
      expect(await rt.read(S)).toEqual(addRef(a, b));
      expect(await rt.read(P)).toEqual(mulRef(a, b));
      expect(await rt.read(Q)).toEqual(scaleRef(a, -1.5));
      rt.free(A, B, S, P, Q);
    });
  }

  it('copy4 copies every element', async () => {
    const rt = await testRuntime();
    const src = new Rng(3).normals(4 * 777);
    const S = rt.upload(src, [777, 4], 'src');
    const D = rt.upload(poison(src.length), [777, 4], 'dst');
    const step = rt.step();
    await copy4(rt, step, S, D);
    step.submit();
    expect(await rt.read(D)).toEqual(src);
    rt.free(S, D);
  });

  it('folds grids larger than the per-dimension workgroup limit into y', async () => {
    const rt = await testRuntime();
    const n = 256 * 65535 + 300; // one workgroup-row more than fits in x
    const a = new Rng(9).uniforms(n, 0.5, 2);
    const A = rt.upload(a, [n], 'a');
    const out = rt.upload(poison(n), [n], 'out');
    const step = rt.step();
    await scale(rt, step, A, 2, out);
    step.submit();
    const got = await rt.read(out);
    let mismatches = 0;
    for (let i = 0; i < n; i++) if (got[i] !== 2 * a[i]) mismatches++;
    expect(mismatches).toBe(0);
    rt.free(A, out);
  });

  it('rejects tensors of different shapes', async () => {
    const rt = await testRuntime();
    const A = rt.tensor([4, 3], 'f32', 'a');
    const B = rt.tensor([3, 4], 'f32', 'b');
    await expect(add(rt, rt.step(), A, B, A)).rejects.toThrow(ShapeError);
    rt.free(A, B);
  });
});
