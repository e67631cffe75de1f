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
