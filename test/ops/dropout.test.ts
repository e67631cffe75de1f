// Dropout's mask: its rate, its scale, and the backward through the same mask.
import { describe, expect, it } from 'vitest';
import { dropoutBackwardAdd, dropoutForward } from '../../src/ops';
import { poison, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';

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
