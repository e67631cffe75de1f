// RoPE forward and backward against the reference (rope.ref.ts): HF's rotate-half at large positions.
import { describe, expect, it } from 'vitest';
import { ropeBackward, ropeForward, ropeTable } from '../../src/ops';
import { relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { invFreq, ropeRef } from './rope.ref';

describe('rope', () => {
  it('rope rotates halves at large positions as HF does', async () => {
    const rt = await testRuntime();
    const rng = new Rng(5);
    const [tokens, heads, D] = [9, 3, 16];
    const freq = invFreq(D, 10000);
    const positions = Uint32Array.from({ length: tokens }, () => rng.int(0, 4000));
    const x = rng.normals(tokens * heads * D);
    const X = rt.upload(x, [tokens, heads, D], 'x');
    const P = rt.upload(positions, [tokens], 'pos');
    const table = rt.upload(ropeTable(freq, 4001), [4001, D / 2, 2], 'rope table');
    const step = rt.step();
    await ropeForward(rt, step, X, P, table);
    step.submit();
    expect(relativeError(await rt.read(X) as Float32Array, ropeRef(x, heads, D, positions, freq))).toBeLessThan(1e-6);
    rt.free(X, P, table);
  });

  it('rope backward undoes the forward rotation', async () => {
    const rt = await testRuntime();
    const rng = new Rng(15);
    const [tokens, heads, D] = [9, 3, 16];
    const freq = Float32Array.from({ length: D / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / D));
    const positions = Uint32Array.from({ length: tokens }, () => rng.int(0, 4000));
    const x = rng.normals(tokens * heads * D);
    const X = rt.upload(x, [tokens, heads, D], 'x');
    const P = rt.upload(positions, [tokens], 'pos');
    const table = rt.upload(ropeTable(freq, 4001), [4001, D / 2, 2], 'rope table');
    const step = rt.step();
    await ropeForward(rt, step, X, P, table);
    await ropeBackward(rt, step, X, P, table);
    step.submit();
    expect(relativeError(await rt.read(X) as Float32Array, x)).toBeLessThan(1e-6);
    rt.free(X, P, table);
  });
});
