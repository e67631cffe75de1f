// Causal GQA attention forward (prefill, chunks, token-by-token decode through the cache) and backward against the
// float64 references (attention.ref.ts), with left padding; and its shape checks.
import { describe, expect, it } from 'vitest';
import { ShapeError, type Tensor } from '../../src/gpu';
import { attentionBackward, attentionForward, writeKv } from '../../src/ops';
import { poison, relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { attentionBackwardRef, attentionRef } from './attention.ref';

describe('attention', () => {
  // Prefill of S tokens at once, then the same sequence token by token through the cache: both equal the
  // full causal reference, with GQA and a left-padded row.
  // Chunks of ≥ 8 tokens take the tiled kernel (head dim ≤ 128), single tokens the per-query one.
  for (const [B, S, hq, hkv, D, mid] of [[2, 11, 4, 2, 16, 9], [1, 70, 3, 1, 40, 8], [1, 5, 2, 2, 256, 2], [1, 150, 4, 2, 64, 50], [2, 40, 2, 1, 128, 33]]) {
    it(`attention B=${B} S=${S} Hq=${hq} Hkv=${hkv} D=${D}: prefill, chunks of ${mid}, and token-by-token decode`, async () => {
      const rt = await testRuntime();
      const rng = new Rng(B * S * D);
      const cap = S + 3;
      const q = rng.normals(B * S * hq * D);
      const k = rng.normals(B * S * hkv * D);
      const v = rng.normals(B * S * hkv * D);
      const mask = Uint32Array.from({ length: B * S }, (_, i) => (i >= S && i % S < 3 ? 0 : 1)); // row 1: 3 pads
      const want = attentionRef(q, k, v, mask, B, S, hq, hkv, D);
      const maskCap = new Uint32Array(B * cap);
      for (let b = 0; b < B; b++) maskCap.set(mask.subarray(b * S, (b + 1) * S), b * cap);
      const M = rt.upload(maskCap, [B, cap], 'mask');
      for (const chunk of [S, mid, 1]) {
        const KC = rt.upload(poison(B * hkv * cap * D), [B, hkv, cap, D], 'k cache');
        const VC = rt.upload(poison(B * hkv * cap * D), [B, hkv, cap, D], 'v cache');
        const got = new Float32Array(q.length);
        for (let past = 0; past < S; past += chunk) {
          const T = Math.min(chunk, S - past);
          const rowsOf = (src: Float32Array, heads: number) => {
            const o = new Float32Array(B * T * heads * D);
            for (let b = 0; b < B; b++) o.set(src.subarray((b * S + past) * heads * D, (b * S + past + T) * heads * D), b * T * heads * D);
            return o;
          };
          const w = { batch: B, tokens: T, past };
          const [Q, K, V] = [rt.upload(rowsOf(q, hq), [B * T, hq, D], 'q'), rt.upload(rowsOf(k, hkv), [B * T, hkv, D], 'k'), rt.upload(rowsOf(v, hkv), [B * T, hkv, D], 'v')];
          const O = rt.upload(poison(B * T * hq * D), [B * T, hq, D], 'out');
          const step = rt.step();
          await writeKv(rt, step, K, V, KC, VC, w);
          await attentionForward(rt, step, Q, KC, VC, M, O, w);
          step.submit();
          const o = await rt.read(O) as Float32Array;
          for (let b = 0; b < B; b++) got.set(o.subarray(b * T * hq * D, (b + 1) * T * hq * D), (b * S + past) * hq * D);
          rt.free(Q, K, V, O);
        }
        expect(relativeError(got, want)).toBeLessThan(1e-5);
        rt.free(KC, VC);
      }
      rt.free(M);
    });
  }

  it('attention refuses more tokens than the cache holds', async () => {
    const rt = await testRuntime();
    const KC = rt.tensor([1, 1, 4, 8], 'f32', 'k cache');
    const Q = rt.tensor([3, 2, 8], 'f32', 'q');
    const M = rt.tensor([1, 4], 'u32', 'mask');
    await expect(attentionForward(rt, rt.step(), Q, KC, KC, M, Q, { batch: 1, tokens: 3, past: 2 })).rejects.toThrow(ShapeError);
    rt.free(KC, Q, M);
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
