// LoRA's four split-K low-rank products against their float64 references (lora.ref.ts): partial tiles, several K
// chunks, accumulate.
import { describe, expect, it } from 'vitest';
import { loraDown, loraGradA, loraGradB, loraUpBackward } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { loraDownRef, loraGradARef, loraGradBRef, loraUpBackwardRef } from './lora.ref';

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
