import { describe, expect, it } from 'vitest';
import { rowMax, rowSum } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { rowMaxRef, rowSumRef } from './reduce.ref';

describe('row reductions match the reference', () => {
  const shapes: [number, number][] = [[1, 1], [3, 257], [17, 1000], [5, 4099]];
  for (const [rows, cols] of shapes) {
    it(`sum and max over [${rows}, ${cols}]`, async () => {
      const rt = await testRuntime();
      const x = new Rng(rows * 31 + cols).normals(rows * cols);
      const X = rt.upload(x, [rows, cols], 'x');
      const S = rt.upload(poison(rows), [rows], 'sum');
      const M = rt.upload(poison(rows), [rows], 'max');
      const step = rt.step();
      await rowSum(rt, step, X, S);
      await rowMax(rt, step, X, M);
      step.submit();
      expect(relativeError(await rt.read(S), rowSumRef(x, rows, cols))).toBeLessThan(1e-6);
      expect(Array.from(await rt.read(M))).toEqual(Array.from(rowMaxRef(x, rows, cols)));
      rt.free(X, S, M);
    });
  }

  it('rejects an output that is not the leading dimensions', async () => {
    const rt = await testRuntime();
    const X = rt.tensor([4, 6], 'f32', 'x');
    const out = rt.tensor([6], 'f32', 'out');
    await expect(rowSum(rt, rt.step(), X, out)).rejects.toThrow(/'out' is \[6\], expected \[4\]/);
    rt.free(X, out);
  });
});
