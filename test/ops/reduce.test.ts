import { describe, expect, it } from 'vitest';
import { rowF16Scale, rowMax, rowSum } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { rowF16ScaleRef, rowMaxRef, rowSumRef } from './reduce.ref';

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

  it('the rows\' f16 scales: powers of two that put each row\'s largest |x| in [2^13, 2^14)', async () => {
    const rt = await testRuntime();
    const [rows, cols] = [9, 300];
    const x = new Rng(5).normals(rows * cols);
    // Magnitudes from 2^-120 to 2^100, a row of zeros, a row with an infinity, one with a NaN.
    const exponents = [-120, -60, -24, -1, 0, 13, 17, 100];
    for (let r = 0; r < exponents.length; r++) for (let c = 0; c < cols; c++) x[r * cols + c] = Math.fround(x[r * cols + c] * 2 ** exponents[r]);
    x.fill(0, 3 * cols, 4 * cols);
    x[5 * cols + 7] = Infinity;
    x[6 * cols + 9] = NaN;
    const X = rt.upload(x, [rows, cols], 'x');
    const S = rt.upload(poison(rows), [rows], 'scales');
    const step = rt.step();
    await rowF16Scale(rt, step, X, S);
    step.submit();
    const got = Array.from(await rt.read(S));
    const want = Array.from(rowF16ScaleRef(x, rows, cols));
    // A NaN's place in a max is up to the GPU: that row's scale may be anything, the NaN stays NaN in any product.
    expect(got.filter((_, r) => r !== 6)).toEqual(want.filter((_, r) => r !== 6));
    for (let r = 0; r < rows; r++) {
      if (r === 3 || r === 5 || r === 6 || r === 0) continue; // zeros, inf, NaN; 2^-120 needs a scale beyond f32's normals
      let m = 0;
      for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(x[r * cols + c]) * got[r]);
      expect(m).toBeGreaterThanOrEqual(2 ** 13);
      expect(m).toBeLessThan(2 ** 14);
    }
    rt.free(X, S);
  });

  it('rejects an output that is not the leading dimensions', async () => {
    const rt = await testRuntime();
    const X = rt.tensor([4, 6], 'f32', 'x');
    const out = rt.tensor([6], 'f32', 'out');
    await expect(rowSum(rt, rt.step(), X, out)).rejects.toThrow(/'out' is \[6\], expected \[4\]/);
    rt.free(X, out);
  });
});
