// Reference row-wise reductions of a [rows, cols] matrix, in float64.
export function rowSumRef(x: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] += x[r * cols + c];
  return out;
}

export function rowMaxRef(x: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows).fill(-Infinity);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] = Math.max(out[r], x[r * cols + c]);
  return out;
}
