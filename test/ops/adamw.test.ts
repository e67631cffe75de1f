// The optimizer step (src/ops/adamw.ts) against its float64 reference: several steps over random parameters,
// gradients and moments, with clipping on and off, weight decay, sizes that span one workgroup and many; the report
// (norm, clip coefficient); and the health flag: a non-finite gradient leaves every parameter and moment as it was,
// for that step and every later one.
import { describe, expect, it } from 'vitest';
import { adamwPartialsShape, adamwStep, type AdamWSettings } from '../../src/ops';
import { relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { adamwRef } from './adamw.ref';

describe('AdamW with a global-norm clip', () => {
  for (const [n, maxGradNorm, weightDecay] of [[300, 1, 0], [70_001, 0.5, 0.1], [4_099, 0, 0.01]]) {
    it(`n=${n} maxGradNorm=${maxGradNorm} weightDecay=${weightDecay}: three steps match the reference`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(n);
      const p0 = rng.normals(n, 0.1);
      const m0 = rng.normals(n, 1e-3);
      const v0 = rng.uniforms(n, 1e-7, 1e-5);
      const [params, m, v] = [Float64Array.from(p0), Float64Array.from(m0), Float64Array.from(v0)];
      const T = (d: Float32Array, label: string) => rt.upload(d, [n], label);
      const b = {
        params: T(p0, 'params'), grads: T(rng.normals(n), 'grads'), m: T(m0, 'm'), v: T(v0, 'v'),
        report: rt.upload(Float32Array.of(3.5, Number.NaN, Number.NaN, 0), [4], 'report'), health: rt.upload(new Float32Array(1), [1], 'health'),
        partials: rt.tensor(adamwPartialsShape(), 'f32', 'partials'),
      };
      for (let s = 1; s <= 3; s++) {
        const grads = rng.normals(n, 0.2 * s);
        rt.write(b.grads, grads);
        const settings: AdamWSettings = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay, maxGradNorm, step: s };
        const want = adamwRef(params, grads, m, v, settings);
        const step = rt.step();
        await adamwStep(rt, step, b, settings);
        step.submit();
        const report = (await rt.read(b.report)) as Float32Array;
        expect(report[1]).toBeCloseTo(want.norm, 3);
        expect(report[2]).toBeCloseTo(want.coef, 5);
        if (maxGradNorm > 0) expect(want.coef).toBeLessThan(1); // the clip is exercised
        expect(relativeError((await rt.read(b.params)) as Float32Array, params)).toBeLessThan(1e-5);
        expect(relativeError((await rt.read(b.m)) as Float32Array, m)).toBeLessThan(1e-5);
        expect(relativeError((await rt.read(b.v)) as Float32Array, v)).toBeLessThan(1e-5);
      }
      expect(((await rt.read(b.health)) as Float32Array)[0]).toBe(0);
      rt.free(...Object.values(b));
    });
  }

  it('a non-finite gradient or loss sets the health flag: nothing moves, now or at any later step', async () => {
    const rt = await testRuntime();
    const n = 1_000;
    const rng = new Rng(5);
    const [p0, m0, v0] = [rng.normals(n), rng.normals(n, 1e-3), rng.uniforms(n, 1e-7, 1e-5)];
    const b = {
      params: rt.upload(p0, [n], 'params'), grads: rt.upload(rng.normals(n), [n], 'grads'), m: rt.upload(m0, [n], 'm'), v: rt.upload(v0, [n], 'v'),
      report: rt.upload(Float32Array.of(1, 0, 0, 0), [4], 'report'), health: rt.upload(new Float32Array(1), [1], 'health'),
      partials: rt.tensor(adamwPartialsShape(), 'f32', 'partials'),
    };
    const settings: AdamWSettings = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, step: 1 };
    const g = rng.normals(n);
    g[617] = Number.POSITIVE_INFINITY;
    rt.write(b.grads, g);
    let step = rt.step();
    await adamwStep(rt, step, b, settings);
    step.submit();
    expect(((await rt.read(b.health)) as Float32Array)[0]).toBe(1);
    rt.write(b.grads, rng.normals(n)); // a finite step after it: still skipped, the flag is sticky
    step = rt.step();
    await adamwStep(rt, step, b, { ...settings, step: 2 });
    step.submit();
    expect((await rt.read(b.params)) as Float32Array).toEqual(p0);
    expect((await rt.read(b.m)) as Float32Array).toEqual(m0);
    expect((await rt.read(b.v)) as Float32Array).toEqual(v0);
    rt.write(b.health, new Float32Array(1));
    rt.write(b.report, Float32Array.of(Number.NaN, 0, 0, 0)); // a NaN loss alone trips it too
    step = rt.step();
    await adamwStep(rt, step, b, settings);
    step.submit();
    expect(((await rt.read(b.health)) as Float32Array)[0]).toBe(1);
    expect((await rt.read(b.params)) as Float32Array).toEqual(p0);
    rt.free(...Object.values(b));
  });
});
