// Row argmax against torch.argmax's rule: the first index of each row's maximum.
import { describe, expect, it } from 'vitest';
import { argmaxRows } from '../../src/ops';
import { testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';

describe('argmax', () => {
  it('argmax picks the first index of each row maximum, as torch.argmax', async () => {
    const rt = await testRuntime();
    const rng = new Rng(8);
    const [rows, cols] = [4, 1001];
    const x = rng.normals(rows * cols);
    x[2 * cols + 7] = 50; // a tie in row 2: the first one wins
    x[2 * cols + 900] = 50;
    x[3 * cols + cols - 1] = 60; // the last column
    const X = rt.upload(x, [rows, cols], 'x');
    const O = rt.upload(new Uint32Array(rows).fill(12345), [rows], 'out');
    const step = rt.step();
    await argmaxRows(rt, step, X, O);
    step.submit();
    const want = Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + best]) best = c;
      return best;
    });
    expect(Array.from(await rt.read(O))).toEqual(want);
    expect(want[2]).toBe(7);
    rt.free(X, O);
  });
});
