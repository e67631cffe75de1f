// The LLaMA forward ops against their float64 references, on odd shapes with random data.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu';
import {
  argmaxRows, attentionForward, crossEntropyForward, embeddingForward, IGNORE_TARGET, rmsnormForward, ropeForward, ropeTable,
  swigluForward, writeKv,
} from '../src/ops';
import { poison, relativeError, testRuntime } from './helpers/gpu';
import { Rng } from './helpers/rng';
import { attentionRef } from './ref/attention';
import { crossEntropyRef } from './ref/cross-entropy';
import { embeddingRef } from './ref/embedding';
import { rmsnormRef } from './ref/rmsnorm';
import { ropeRef } from './ref/rope';
import { swigluRef } from './ref/swiglu';

function invFreq(headDim: number, theta: number): Float32Array {
  return Float32Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
}

describe('LLaMA ops match the references', () => {
  it('embedding gathers the rows named by the ids', async () => {
    const rt = await testRuntime();
    const rng = new Rng(1);
    const [vocab, hidden, tokens] = [37, 19, 23];
    const table = rng.normals(vocab * hidden);
    const ids = Uint32Array.from({ length: tokens }, () => rng.int(0, vocab - 1));
    const T = rt.upload(table, [vocab, hidden], 'table');
    const I = rt.upload(ids, [tokens], 'ids');
    const O = rt.upload(poison(tokens * hidden), [tokens, hidden], 'out');
    const step = rt.step();
    await embeddingForward(rt, step, I, T, O);
    step.submit();
    expect(await rt.read(O)).toEqual(embeddingRef(ids, table, hidden));
    rt.free(T, I, O);
  });

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

  it('argmax picks the first index of each row maximum, as torch.argmax', async () => {
    const rt = await testRuntime();
    const rng = new Rng(8);
    const [rows, cols] = [4, 1001];
    const x = rng.normals(rows * cols);
    x[2 * cols + 7] = 50; // a tie in row 2: the first one wins
    x[2 * cols + 900] = 50;
    x[3 * cols + cols - 1] = 60; // the last column
    const X = rt.upload(x, [rows, cols], 'x');
    const O = rt.upload(new Uint32Array(rows).fill(12345), [rows], 'out');
    const step = rt.step();
    await argmaxRows(rt, step, X, O);
    step.submit();
    const want = Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + best]) best = c;
      return best;
    });
    expect(Array.from(await rt.read(O))).toEqual(want);
    expect(want[2]).toBe(7);
    rt.free(X, O);
  });

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

  it('cross-entropy per row, ignored rows read 0', async () => {
    const rt = await testRuntime();
    const rng = new Rng(7);
    const [rows, vocab] = [5, 1003];
    const logits = rng.normals(rows * vocab, 5);
    const target = Uint32Array.from([3, 1002, IGNORE_TARGET, 0, 500]);
    const [L, Tg, O] = [rt.upload(logits, [rows, vocab], 'logits'), rt.upload(target, [rows], 'target'), rt.upload(poison(rows), [rows], 'loss')];
    const step = rt.step();
    await crossEntropyForward(rt, step, L, Tg, O);
    step.submit();
    const got = await rt.read(O) as Float32Array;
    expect(relativeError(got, crossEntropyRef(logits, target, vocab))).toBeLessThan(1e-6);
    expect(got[2]).toBe(0);
    rt.free(L, Tg, O);
  });

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
});
