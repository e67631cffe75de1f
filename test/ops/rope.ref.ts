/** HF apply_rotary_pos_emb (rotate-half) on [tokens, heads, D] in float64, angles as f32(pos · invFreq). */
export function ropeRef(x: Float32Array, heads: number, headDim: number, positions: ArrayLike<number>, invFreq: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const half = headDim / 2;
  for (let t = 0; t < positions.length; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(positions[t] * invFreq[i]);
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        out[base + i] = x[base + i] * c - x[base + i + half] * s;
        out[base + i + half] = x[base + i + half] * c + x[base + i] * s;
      }
    }
  }
  return out;
}

/** HF's inverse frequencies of the default RoPE: θ^(−2i/d) for i < d/2. */
export function invFreq(headDim: number, theta: number): Float32Array {
  return Float32Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
}
