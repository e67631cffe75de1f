// The f16 matrix path's numerics in float64 (src/matmul/matrix-units.ts): each row of A scaled by its power of two
// (rowF16ScaleRef), A and Ŵ rounded to f16 (round to nearest, ties to even, subnormals and overflow to ±∞ as IEEE
// binary16 has them), the products summed exactly, each row scaled back.
import { rowF16ScaleRef } from '../ops/reduce.ref';

/** x rounded to the nearest IEEE binary16 value (ties to even), as a number. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity; // 65504 + half an ulp: ties go to the even 2^16, out of range
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10); // below 2^-14 the subnormals' fixed spacing 2^-24
  const q = a / ulp;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r -= 1; // Math.round sends ties up: back to the even one
  return Math.sign(x) * r * ulp;
}

/** C[M, N] = A[M, K]·B with B = Ŵᵀ (transB, Ŵ [N, K]) or Ŵ [K, N], through the f16 scheme; `scaleRows` false rounds
 *  A to f16 as it is (what the scaling prevents). */
export function matmulF16Ref(
  a: Float32Array, w: Float32Array, M: number, N: number, K: number, transB: boolean, scaleRows = true,
): Float64Array {
  const scales = scaleRows ? rowF16ScaleRef(a, M, K) : new Float64Array(M).fill(1);
  const wh = w.map(roundF16);
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    const ah = new Float64Array(K);
    for (let k = 0; k < K; k++) ah[k] = roundF16(a[m * K + k] * scales[m]);
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += ah[k] * (transB ? wh[n * K + k] : wh[k * N + n]);
      out[m * N + n] = s / scales[m];
    }
  }
  return out;
}
