export function rmsnormRef(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  const cols = w.length;
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = w[c] * x[r * cols + c] * inv;
  }
  return y;
}

/** dx of rmsnormRef given dy (weight frozen), in float64. */
export function rmsnormBackwardRef(x: Float32Array, w: Float32Array, dy: Float32Array, eps: number): Float32Array {
  const cols = w.length;
  const dx = new Float32Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let ss = 0;
    let gx = 0;
    for (let c = 0; c < cols; c++) {
      ss += x[r * cols + c] ** 2;
      gx += w[c] * dy[r * cols + c] * x[r * cols + c];
    }
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) dx[r * cols + c] = inv * w[c] * dy[r * cols + c] - (x[r * cols + c] * inv ** 3 * gx) / cols;
  }
  return dx;
}
