// The power of two the f16 matrix path scales a row by before rounding it to f16 (src/matmul/matrix-units.ts):
// 2^(14 − e) for the row's largest |x| = f·2^e, f ∈ [0.5, 1), so the row's largest value lands in [2^13, 2^14), far
// from f16's overflow (65504) and 2^24 above its smallest normal; the exponent is kept within f32's normals. 1 for a
// row of zeros or with a non-finite value (which stays non-finite in any product).
fn f16RowScale(maxAbs: f32) -> f32 {
  if (maxAbs > 0.0 && maxAbs <= 3.4028234e38) { return ldexp(1.0, clamp(14 - frexp(maxAbs).exp, -126, 126)); }
  return 1.0;
}
