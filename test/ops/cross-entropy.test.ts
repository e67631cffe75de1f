// Cross-entropy forward, and forward+backward in place, against the float64 references (cross-entropy.ref.ts).
import { describe, expect, it } from 'vitest';
import { crossEntropyForward, crossEntropyForwardBackward, IGNORE_TARGET } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { crossEntropyGradRef, crossEntropyRef } from './cross-entropy.ref';

/** 5 rows of random logits over 1,003 tokens (one row ignored) on the GPU, with a poisoned loss. */
async function setup(seed: number) {
  const rt = await testRuntime();
  const rng = new Rng(seed);
  const [rows, vocab] = [5, 1003];
  const logits = rng.normals(rows * vocab, 5);
  const target = Uint32Array.from([3, 1002, IGNORE_TARGET, 0, 500]);
  const [L, Tg, O] = [rt.upload(logits, [rows, vocab], 'logits'), rt.upload(target, [rows], 'target'), rt.upload(poison(rows), [rows], 'loss')];
  return { rt, vocab, logits, target, L, Tg, O };
}

describe('cross-entropy', () => {
  it('cross-entropy per row, ignored rows read 0', async () => {
    const { rt, vocab, logits, target, L, Tg, O } = await setup(7);
    const step = rt.step();
    await crossEntropyForward(rt, step, L, Tg, O);
    step.submit();
    const got = await rt.read(O) as Float32Array;
    expect(relativeError(got, crossEntropyRef(logits, target, vocab))).toBeLessThan(1e-6);
    expect(got[2]).toBe(0);
    rt.free(L, Tg, O);
  });

  it('cross-entropy forward+backward gives the loss and scale·(softmax − onehot) in place', async () => {
    const { rt, vocab, logits, target, L, Tg, O } = await setup(17);
    const step = rt.step();
    await crossEntropyForwardBackward(rt, step, L, Tg, O, 0.25);
    step.submit();
    expect(relativeError(await rt.read(O) as Float32Array, crossEntropyRef(logits, target, vocab))).toBeLessThan(1e-6);
    const grad = await rt.read(L) as Float32Array;
    expect(relativeError(grad, crossEntropyGradRef(logits, target, vocab, 0.25))).toBeLessThan(1e-5);
    expect(grad.subarray(2 * vocab, 3 * vocab).every((g) => g === 0)).toBe(true);
    rt.free(L, Tg, O);
  });
});
