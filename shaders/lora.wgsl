// The small-rank products of LoRA, C[M, R] (+)= alpha · Σ_k P[m, k]·Q[k, j] with R = the rank (≤ 64) and K long (the
// hidden size, or the tokens of a batch): the square-matmul tiles would give one column of workgroups for them, so K
// is split across workgroups and the partial products summed by a second kernel.
// Operands are addressed by strides, so one kernel serves all four products without transposing anything:
//   P(m, k) = P[m·pm + k·pk], Q(k, j) = Q[⌊k / qGroup⌋·qk + j·qj], C(m, j) = C[m·cm + j·cj].
// qGroup > 1 is QA-LoRA's pooled input fused into the A side: x̄·Aᵀ with x̄ the sums over groups of qGroup inputs
// equals x·Ãᵀ with Ã[j, k] = A[j, ⌊k / qGroup⌋], so the pooled x̄ is never formed.
// partial: a 256-invocation workgroup takes 64 rows m of one K chunk (wg.y) for every j < R: tiles of 64 m × 16 k of P
//   and 16 k × R of Q go through workgroup memory; each invocation accumulates R/4 outputs (one m, j ≡ lid mod … ).
//   Partial sums go to part[chunk, m, j].
// reduce: one invocation per output, C(m, j) = alpha · Σ_chunks part[·, m, j] (+ C(m, j) when accumulate).

struct Params {
  M: u32, R: u32, K: u32, chunk: u32,
  pm: u32, pk: u32, qk: u32, qj: u32,
  cm: u32, cj: u32, chunks: u32, accumulate: u32,
  alpha: f32, qGroup: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
// reduce
@group(0) @binding(1) var<storage, read> partIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;

const TMR = 64u; // rows m per workgroup
const TK = 16u; // k per tile
const RMAX = 64u;
var<workgroup> Ps: array<f32, TMR * TK>; // [k][m]
var<workgroup> Qs: array<f32, TK * RMAX>; // [k][j]

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = wg.x * TMR;
  let k0 = wg.y * p.chunk;
  let k1 = min(k0 + p.chunk, p.K);
  // Invocation lid owns row m0 + lid % 64 and columns j = lid / 64 + 4·t, t < R/4 (R a multiple of 4).
  let ml = lid % TMR;
  let jl = lid / TMR;
  var acc: array<f32, 16>;
  for (var t = 0u; t < 16u; t++) { acc[t] = 0.0; }
  for (var kt = k0; kt < k1; kt += TK) {
    // P tile: 64 × 16 elements, 4 per invocation, consecutive invocations along whichever of m, k has stride 1.
    for (var e = 0u; e < 4u; e++) {
      let idx = e * 256u + lid;
      var mm = idx % TMR;
      var kk = idx / TMR;
      if (p.pk == 1u) {
        mm = idx / TK;
        kk = idx % TK;
      }
      let m = m0 + mm;
      let k = kt + kk;
      Ps[kk * TMR + mm] = select(0.0, P[m * p.pm + k * p.pk], m < p.M && k < k1);
    }
    // Q tile: 16 × R elements.
    for (var idx = lid; idx < TK * p.R; idx += 256u) {
      var kk = idx / p.R;
      var j = idx % p.R;
      if (p.qk == 1u) {
        kk = idx % TK;
        j = idx / TK;
      }
      let k = kt + kk;
      Qs[kk * RMAX + j] = select(0.0, Q[(k / p.qGroup) * p.qk + j * p.qj], k < k1);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let a = Ps[kk * TMR + ml];
      for (var t = 0u; t < p.R / 4u; t++) { acc[t] += a * Qs[kk * RMAX + jl + 4u * t]; }
    }
    workgroupBarrier();
  }
  let m = m0 + ml;
  if (m < p.M) {
    for (var t = 0u; t < p.R / 4u; t++) { part[(wg.y * p.M + m) * p.R + jl + 4u * t] = acc[t]; }
  }
}

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.M * p.R) { return; }
  let m = i / p.R;
  let j = i % p.R;
  var s = 0.0;
  for (var c = 0u; c < p.chunks; c++) { s += partIn[c * p.M * p.R + i]; }
  let at = m * p.cm + j * p.cj;
  C[at] = select(p.alpha * s, C[at] + p.alpha * s, p.accumulate != 0u);
}
