// Reference batched matmul in float64: C[b] = alpha · op(A[b])·op(B[b]) (+ C0[b]).
export interface MatmulRefArgs {
  a: Float32Array;
  b: Float32Array;
  batch: number;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  c0?: Float32Array;
}

export function matmulRef({ a, b, batch, M, N, K, transA, transB, alpha = 1, c0 }: MatmulRefArgs): Float64Array {
  const c = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const oa = z * M * K;
    const ob = z * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[oa + k * M + m] : a[oa + m * K + k];
          const bv = transB ? b[ob + n * K + k] : b[ob + k * N + n];
          s += av * bv;
        }
        const i = z * M * N + m * N + n;
        c[i] = alpha * s + (c0 ? c0[i] : 0);
      }
    }
  }
  return c;
}
