// The backward ops of the LLaMA block against their float64 references, on odd shapes with random data.
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/gpu';
import {
  attentionBackward, attentionForward, crossEntropyForwardBackward, IGNORE_TARGET, rmsnormBackward, ropeBackward, ropeForward,
  ropeTable, swigluBackward, writeKv,
} from '../src/ops';
import { poison, relativeError, testRuntime } from './helpers/gpu';
import { Rng } from './helpers/rng';
import { attentionBackwardRef, attentionRef } from './ref/attention';
import { crossEntropyGradRef, crossEntropyRef } from './ref/cross-entropy';
import { rmsnormBackwardRef } from './ref/rmsnorm';
import { swigluBackwardRef } from './ref/swiglu';

describe('LLaMA backward ops match the references', () => {
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

  it('cross-entropy forward+backward gives the loss and scale·(softmax − onehot) in place', async () => {
    const rt = await testRuntime();
    const rng = new Rng(17);
    const [rows, vocab] = [5, 1003];
    const logits = rng.normals(rows * vocab, 5);
    const target = Uint32Array.from([3, 1002, IGNORE_TARGET, 0, 500]);
    const [L, Tg, O] = [rt.upload(logits, [rows, vocab], 'logits'), rt.upload(target, [rows], 'target'), rt.upload(poison(rows), [rows], 'loss')];
    const step = rt.step();
    await crossEntropyForwardBackward(rt, step, L, Tg, O, 0.25);
    step.submit();
    expect(relativeError(await rt.read(O) as Float32Array, crossEntropyRef(logits, target, vocab))).toBeLessThan(1e-6);
    const grad = await rt.read(L) as Float32Array;
    expect(relativeError(grad, crossEntropyGradRef(logits, target, vocab, 0.25))).toBeLessThan(1e-5);
    expect(grad.subarray(2 * vocab, 3 * vocab).every((g) => g === 0)).toBe(true);
    rt.free(L, Tg, O);
  });

  // Right padding in row 1 (training batches pad on the right), a fully padded sequence start in row 2 of the
  // last case (queries that see no key), and tiles partly past T.
  for (const [B, S, hq, hkv, D] of [[2, 11, 4, 2, 16], [1, 70, 3, 1, 40], [3, 37, 2, 2, 64], [1, 20, 2, 1, 128]]) {
    it(`attention backward B=${B} S=${S} Hq=${hq} Hkv=${hkv} D=${D}`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(B * S * D + 3);
      const q = rng.normals(B * S * hq * D);
      const k = rng.normals(B * S * hkv * D);
      const v = rng.normals(B * S * hkv * D);
      const dout = rng.normals(B * S * hq * D);
      const mask = Uint32Array.from({ length: B * S }, (_, i) => {
        const [b, t] = [Math.floor(i / S), i % S];
        return (b === 1 && t >= S - 4) || (b === 2 && t < 2) ? 0 : 1;
      });
      const want = attentionBackwardRef(q, k, v, mask, dout, B, S, hq, hkv, D);
      const w = { batch: B, tokens: S, past: 0 };
      const [Q, K, V] = [rt.upload(q, [B * S, hq, D], 'q'), rt.upload(k, [B * S, hkv, D], 'k'), rt.upload(v, [B * S, hkv, D], 'v')];
      const [KC, VC] = [rt.upload(poison(B * hkv * S * D), [B, hkv, S, D], 'k cache'), rt.upload(poison(B * hkv * S * D), [B, hkv, S, D], 'v cache')];
      const M = rt.upload(mask, [B, S], 'mask');
      const O = rt.upload(poison(q.length), [B * S, hq, D], 'out');
      const DO = rt.upload(dout, [B * S, hq, D], 'dout');
      const stats = rt.upload(poison(B * hq * S * 2), [B, hq, S, 2], 'stats');
      const grads = {
        dq: rt.upload(poison(q.length), [B * S, hq, D], 'dq'),
        dk: rt.upload(poison(k.length), [B * S, hkv, D], 'dk'),
        dv: rt.upload(poison(v.length), [B * S, hkv, D], 'dv'),
      };
      const shares: [Tensor, Tensor] = [rt.upload(poison(q.length), [B * S, hq, D], 'dk shares'), rt.upload(poison(q.length), [B * S, hq, D], 'dv shares')];
      const step = rt.step();
      await writeKv(rt, step, K, V, KC, VC, w);
      await attentionForward(rt, step, Q, KC, VC, M, O, w);
      await attentionBackward(rt, step, Q, KC, VC, M, O, DO, stats, shares, grads, w);
      step.submit();
      expect(relativeError(await rt.read(O) as Float32Array, attentionRef(q, k, v, mask, B, S, hq, hkv, D))).toBeLessThan(1e-5);
      expect(relativeError(await rt.read(grads.dq) as Float32Array, want.dq)).toBeLessThan(1e-5);
      expect(relativeError(await rt.read(grads.dk) as Float32Array, want.dk)).toBeLessThan(1e-5);
      expect(relativeError(await rt.read(grads.dv) as Float32Array, want.dv)).toBeLessThan(1e-5);
      rt.free(Q, K, V, KC, VC, M, O, DO, stats, ...shares, grads.dq, grads.dk, grads.dv);
    });
  }
});
