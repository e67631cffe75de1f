// Column blocks between a narrow and a wide matrix (placeColumns, takeColumns) against plain loops: random data,
// poisoned outputs where every element is written, untouched columns kept.
import { describe, expect, it } from 'vitest';
import { placeColumns, takeColumns } from '../../src/ops';
import { poison, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';

describe('column blocks', () => {
  it('place writes (or adds) a block into its columns and leaves the others; take reads them back', async () => {
    const rt = await testRuntime();
    const rng = new Rng(4);
    const [rows, width, n, at] = [13, 41, 9, 27];
    const wide = rng.normals(rows * width);
    const narrow = rng.normals(rows * n);
    const W = rt.upload(wide, [rows, width], 'wide');
    const A = rt.upload(wide, [rows, width], 'wide (accumulated)');
    const N = rt.upload(narrow, [rows, n], 'narrow');
    const T = rt.upload(poison(rows * n), [rows, n], 'taken');
    const step = rt.step();
    await placeColumns(rt, step, N, W, at);
    await placeColumns(rt, step, N, A, at, true);
    await takeColumns(rt, step, A, at, T);
    step.submit();
    const placed = wide.slice();
    const added = wide.slice();
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < n; j++) {
        placed[r * width + at + j] = narrow[r * n + j];
        added[r * width + at + j] = Math.fround(wide[r * width + at + j] + narrow[r * n + j]);
      }
    }
    expect(await rt.read(W)).toEqual(placed);
    expect(await rt.read(A)).toEqual(added);
    expect(await rt.read(T)).toEqual(Float32Array.from({ length: rows * n }, (_, i) => added[Math.floor(i / n) * width + at + (i % n)]));
    await expect(placeColumns(rt, rt.step(), N, W, width - n + 1)).rejects.toThrow(/columns \[33, 42\) are outside \[0, 41\)/);
    rt.free(W, A, N, T);
  });
});
