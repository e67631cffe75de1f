// SwiGLU forward and backward against the float64 references (swiglu.ref.ts).
import { describe, expect, it } from 'vitest';
import { swigluBackward, swigluForward } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { swigluBackwardRef, swigluRef } from './swiglu.ref';

describe('swiglu', () => {
  it('swiglu is silu(gate)·up', async () => {
    const rt = await testRuntime();
    const rng = new Rng(6);
    const n = 1001;
    const g = rng.normals(n, 4);
    const u = rng.normals(n);
    const [G, U, O] = [rt.upload(g, [n], 'g'), rt.upload(u, [n], 'u'), rt.upload(poison(n), [n], 'o')];
    const step = rt.step();
    await swigluForward(rt, step, G, U, O);
    step.submit();
    expect(relativeError(await rt.read(O) as Float32Array, swigluRef(g, u))).toBeLessThan(1e-6);
    rt.free(G, U, O);
  });

  it('swiglu backward gives dgate and dup', async () => {
    const rt = await testRuntime();
    const rng = new Rng(16);
    const n = 1001;
    const [g, u, d] = [rng.normals(n, 4), rng.normals(n), rng.normals(n)];
    const [G, U, D] = [rt.upload(g, [n], 'g'), rt.upload(u, [n], 'u'), rt.upload(d, [n], 'dout')];
    const [DG, DU] = [rt.upload(poison(n), [n], 'dgate'), rt.upload(poison(n), [n], 'dup')];
    const step = rt.step();
    await swigluBackward(rt, step, G, U, D, DG, DU);
    step.submit();
    const want = swigluBackwardRef(g, u, d);
    expect(relativeError(await rt.read(DG) as Float32Array, want.dgate)).toBeLessThan(1e-6);
    expect(relativeError(await rt.read(DU) as Float32Array, want.dup)).toBeLessThan(1e-6);
    rt.free(G, U, D, DG, DU);
  });
});
