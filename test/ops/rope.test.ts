// RoPE forward and backward against the reference (rope.ref.ts): HF's rotate-half at large positions.
import { describe, expect, it } from 'vitest';
import { ropeBackward, ropeForward, ropeTable } from '../../src/ops';
import { relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { invFreq, ropeRef } from './rope.ref';

/** 9 tokens × 3 heads × 16 of random x at random positions below 4,000, with their table on the GPU. */
async function setup(seed: number) {
  const rt = await testRuntime();
  const rng = new Rng(seed);
  const [tokens, heads, D] = [9, 3, 16];
  const freq = invFreq(D, 10000);
  const positions = Uint32Array.from({ length: tokens }, () => rng.int(0, 4000));
  const x = rng.normals(tokens * heads * D);
  const X = rt.upload(x, [tokens, heads, D], 'x');
  const P = rt.upload(positions, [tokens], 'pos');
  const table = rt.upload(ropeTable(freq, 4001), [4001, D / 2, 2], 'rope table');
  return { rt, x, X, P, table, want: ropeRef(x, heads, D, positions, freq) };
}

describe('rope', () => {
  it('rope rotates halves at large positions as HF does', async () => {
    const { rt, X, P, table, want } = await setup(5);
    const step = rt.step();
    await ropeForward(rt, step, X, P, table);
    step.submit();
    expect(relativeError(await rt.read(X) as Float32Array, want)).toBeLessThan(1e-6);
    rt.free(X, P, table);
  });

  it('rope backward undoes the forward rotation', async () => {
    const { rt, x, X, P, table } = await setup(15);
    const step = rt.step();
    await ropeForward(rt, step, X, P, table);
    await ropeBackward(rt, step, X, P, table);
    step.submit();
    expect(relativeError(await rt.read(X) as Float32Array, x)).toBeLessThan(1e-6);
    rt.free(X, P, table);
  });
});
