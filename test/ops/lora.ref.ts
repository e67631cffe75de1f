// Reference rank-r products of LoRA in float64, written as the sums they are (x [N, in], A [r, in], B [out, r],
// dy [N, out], h and dh [N, r]):
//   down       h[n, k]  = Σ_i x[n, i] · A[k, i]
//   upBackward dh[n, k] = s · Σ_o dy[n, o] · B[o, k]
//   gradB      dB[o, k] (+)= s · Σ_n dy[n, o] · h[n, k]
//   gradA      dA[k, i] (+)= Σ_n dh[n, k] · x[n, i]
export function loraDownRef(x: ArrayLike<number>, a: ArrayLike<number>, N: number, inF: number, r: number): Float64Array {
  const h = new Float64Array(N * r);
  for (let n = 0; n < N; n++) for (let k = 0; k < r; k++) for (let i = 0; i < inF; i++) h[n * r + k] += x[n * inF + i] * a[k * inF + i];
  return h;
}

export function loraUpBackwardRef(dy: ArrayLike<number>, b: ArrayLike<number>, N: number, out: number, r: number, s: number): Float64Array {
  const dh = new Float64Array(N * r);
  for (let n = 0; n < N; n++) for (let k = 0; k < r; k++) for (let o = 0; o < out; o++) dh[n * r + k] += s * dy[n * out + o] * b[o * r + k];
  return dh;
}

export function loraGradBRef(dy: ArrayLike<number>, h: ArrayLike<number>, N: number, out: number, r: number, s: number, dB0?: ArrayLike<number>): Float64Array {
  const dB = dB0 ? Float64Array.from(dB0) : new Float64Array(out * r);
  for (let o = 0; o < out; o++) for (let k = 0; k < r; k++) for (let n = 0; n < N; n++) dB[o * r + k] += s * dy[n * out + o] * h[n * r + k];
  return dB;
}

export function loraGradARef(dh: ArrayLike<number>, x: ArrayLike<number>, N: number, inF: number, r: number, dA0?: ArrayLike<number>): Float64Array {
  const dA = dA0 ? Float64Array.from(dA0) : new Float64Array(r * inF);
  for (let k = 0; k < r; k++) for (let i = 0; i < inF; i++) for (let n = 0; n < N; n++) dA[k * inF + i] += dh[n * r + k] * x[n * inF + i];
  return dA;
}
