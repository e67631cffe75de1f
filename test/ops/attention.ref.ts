/**
 * Causal GQA attention in float64 over full sequences: q [B·S, Hq, D], k, v [B·S, Hkv, D], mask [B, S].
 * Query (b, t) sees keys j ≤ t with mask[b, j] = 1; no visible key gives zeros.
 */
export function attentionRef(
  q: Float32Array, k: Float32Array, v: Float32Array, mask: ArrayLike<number>,
  B: number, S: number, hq: number, hkv: number, D: number,
): Float32Array {
  const out = new Float32Array(q.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < S; t++) {
      for (let h = 0; h < hq; h++) {
        const g = Math.floor(h / (hq / hkv));
        const qb = ((b * S + t) * hq + h) * D;
        const scores: number[] = [];
        for (let j = 0; j <= t; j++) {
          if (!mask[b * S + j]) { scores.push(-Infinity); continue; }
          let s = 0;
          const kb = ((b * S + j) * hkv + g) * D;
          for (let d = 0; d < D; d++) s += q[qb + d] * k[kb + d];
          scores.push(s / Math.sqrt(D));
        }
        const m = Math.max(...scores);
        if (m === -Infinity) continue;
        const p = scores.map((s) => Math.exp(s - m));
        const l = p.reduce((a, c) => a + c, 0);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += p[j] * v[((b * S + j) * hkv + g) * D + d];
          out[qb + d] = acc / l;
        }
      }
    }
  }
  return out;
}

/** Gradients of attentionRef (q [B·S, Hq, D], k, v [B·S, Hkv, D]) given dout, in float64, through the full
 *  probability matrix. */
export function attentionBackwardRef(
  q: Float32Array, k: Float32Array, v: Float32Array, mask: ArrayLike<number>, dout: Float32Array,
  B: number, S: number, hq: number, hkv: number, D: number,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < S; t++) {
      for (let h = 0; h < hq; h++) {
        const g = Math.floor(h / (hq / hkv));
        const qb = ((b * S + t) * hq + h) * D;
        const kvAt = (j: number) => ((b * S + j) * hkv + g) * D;
        const visible = Array.from({ length: t + 1 }, (_, j) => j).filter((j) => mask[b * S + j]);
        if (!visible.length) continue;
        const s = visible.map((j) => {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += q[qb + d] * k[kvAt(j) + d];
          return acc * scale;
        });
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const l = e.reduce((a, c) => a + c, 0);
        const p = e.map((x) => x / l);
        const dp = visible.map((j) => {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += dout[qb + d] * v[kvAt(j) + d];
          return acc;
        });
        const delta = p.reduce((a, pj, i) => a + pj * dp[i], 0);
        visible.forEach((j, i) => {
          const ds = p[i] * (dp[i] - delta);
          for (let d = 0; d < D; d++) {
            dv[kvAt(j) + d] += p[i] * dout[qb + d];
            dq[qb + d] += ds * scale * k[kvAt(j) + d];
            dk[kvAt(j) + d] += ds * scale * q[qb + d];
          }
        });
      }
    }
  }
  return { dq: Float32Array.from(dq), dk: Float32Array.from(dk), dv: Float32Array.from(dv) };
}
