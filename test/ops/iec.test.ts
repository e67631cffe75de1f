// IR-QLoRA's elastic-connection ops (src/ops/iec.ts) against plain sums.
import { describe, expect, it } from 'vitest';
import { iecExpandAdd, iecPooledDot, iecPoolAdd } from '../../src/ops';
import { relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';

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
