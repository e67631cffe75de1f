// RMSNorm forward and backward against the float64 references (rmsnorm.ref.ts), on odd shapes with random data.
import { describe, expect, it } from 'vitest';
import { rmsnormBackward, rmsnormForward } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { rmsnormBackwardRef, rmsnormRef } from './rmsnorm.ref';

describe('rmsnorm', () => {
  for (const [rows, cols] of [[1, 1], [7, 300], [13, 64]]) {
    it(`rmsnorm ${rows}x${cols}`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(rows * cols);
      const x = rng.normals(rows * cols, 3);
      const w = rng.normals(cols);
      const [X, W, Y] = [rt.upload(x, [rows, cols], 'x'), rt.upload(w, [cols], 'w'), rt.upload(poison(rows * cols), [rows, cols], 'y')];
      const step = rt.step();
      await rmsnormForward(rt, step, X, W, Y, 1e-5);
      step.submit();
      expect(relativeError(await rt.read(Y) as Float32Array, rmsnormRef(x, w, 1e-5))).toBeLessThan(1e-6);
      rt.free(X, W, Y);
    });
  }

  for (const [rows, cols, accumulate] of [[1, 5, false], [7, 300, true], [13, 64, false]] as const) {
    it(`rmsnorm backward ${rows}x${cols}${accumulate ? ', added into dx' : ''}`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(rows * cols + 1);
      const x = rng.normals(rows * cols, 3);
      const w = rng.normals(cols);
      const dy = rng.normals(rows * cols);
      const before = rng.normals(rows * cols);
      const [X, W, DY] = [rt.upload(x, [rows, cols], 'x'), rt.upload(w, [cols], 'w'), rt.upload(dy, [rows, cols], 'dy')];
      const DX = rt.upload(accumulate ? before : poison(rows * cols), [rows, cols], 'dx');
      const step = rt.step();
      await rmsnormBackward(rt, step, X, W, DY, DX, 1e-5, accumulate);
      step.submit();
      const want = rmsnormBackwardRef(x, w, dy, 1e-5);
      if (accumulate) want.forEach((v, i) => (want[i] = v + before[i]));
      expect(relativeError(await rt.read(DX) as Float32Array, want)).toBeLessThan(1e-5);
      rt.free(X, W, DY, DX);
    });
  }
});
