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
