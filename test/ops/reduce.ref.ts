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

/** 2^(14 − e) for a row's max |x| = f·2^e, f ∈ [0.5, 1), the exponent kept within ±126; 1 for a row of zeros or
 *  one holding a non-finite value. */
export function rowF16ScaleRef(x: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    let finite = true;
    for (let c = 0; c < cols; c++) {
      const v = Math.abs(x[r * cols + c]);
      if (!Number.isFinite(v)) finite = false;
      m = Math.max(m, v);
    }
    if (!finite || m === 0) {
      out[r] = 1;
      continue;
    }
    const e = Math.floor(Math.log2(m)) + 1; // m = f·2^e, f ∈ [0.5, 1)
    out[r] = 2 ** Math.min(126, Math.max(-126, 14 - e));
  }
  return out;
}
