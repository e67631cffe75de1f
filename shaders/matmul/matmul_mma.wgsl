// The quantized GEMM on the GPU's matrix units: subgroup matrices with f16 operands and f32 accumulation.
//   TRANS_B = 1 (forward)          C[M, N] = alpha · X[M, K] · Ŵᵀ (+ C)   Ŵ [N, K] = [out, in]
//   TRANS_B = 0 (backward-input)   C[M, N] = alpha · dY[M, K] · Ŵ (+ C)   Ŵ [K, N] = [out, in]
// Numerics (src/matmul/matrix-units.ts): row m of A is multiplied by rowScale[m], a power of two that puts the
// row's largest |a| in [2^13, 2^14), before it is rounded to f16, and the result row is divided by it again in
// f32: no row overflows f16 or sinks into its subnormals, whatever its magnitude. Ŵ is decoded in f32 and rounded
// to f16 once. The products accumulate in f32.
// Tiling: WM × WN subgroups of SG invocations each compute FM × FN fragments of SM × SN; a workgroup's tile of C
// is BM × BN = (WM·FM·SM) × (WN·FN·SN). K advances BK (32 or 64) at a time: BK / 32 32-code blocks per row of Ŵ
// (forward) or one per 32 columns of a row (backward), so every invocation decodes whole blocks. Ŵ's tiles pass
// through workgroup memory as f16 (Bs, n-major in the forward, k-major in the backward), rows padded by 8 halves
// against bank conflicts; the next tile is fetched into registers while this one is multiplied. DB = 1 keeps two
// tile buffers, so one barrier per tile suffices. A: AGLOBAL = 0 converts its f32 rows (scaled) into workgroup
// memory like Ŵ's (As); AGLOBAL = 1 reads fragments straight from an f16 copy of the scaled rows
// (scale_rows_f16.wgsl), which needs K % BK = 0.
// Template: SM, SN, SK (the f16 → f32 subgroup-matrix configuration used), FM, FN, WM, WN, SG (the device's
// largest subgroup), BK, DB, AGLOBAL, TRANS_B, SCALE_BINDING (6, or 7 with DQ statistics), LAYOUT (1: the layout as a template
// argument of subgroupMatrixLoad/Store, as current Dawn spells it; 0: the older bool argument, which it still
// accepts as deprecated), UNROLL (1: the fragments as named variables, FN = 4 and FM 2 or 4; 0: arrays indexed in
// loops, which a driver may keep in local memory) and dequant.wgsl's values with CODES4 = 1 for 2 and 4 bits. K % 4 = 0 (A read as vec4).
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  accumulate: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
//#if AGLOBAL
@group(0) @binding(1) var<storage, read> A: array<f16>;
//#else
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
//#endif
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding({{SCALE_BINDING}}) var<storage, read> rowScale: array<f32>;

const SM = {{SM}}u;
const SN = {{SN}}u;
const SK = {{SK}}u;
const FM = {{FM}}u;
const FN = {{FN}}u;
const WM = {{WM}}u;
const WN = {{WN}}u;
const SG = {{SG}}u;
const BM = WM * FM * SM;
const BN = WN * FN * SN;
const BK = {{BK}}u;
const BUFFERS = 1u + {{DB}}u;
const THREADS = WM * WN * SG;
const NB = BN * BK / 32u; // 32-code blocks of Ŵ per K tile
const LB = (NB + THREADS - 1u) / THREADS; // of them, each invocation's
//#if TRANS_B
const BS = BK + 8u; // Bs[n][k]
const BROWS = BN;
//#else
const BS = BN + 8u; // Bs[k][n]
const BROWS = BK;
//#endif
const BTILE = BROWS * BS;

var<workgroup> Bs: array<f16, BTILE * BUFFERS>;
var<workgroup> Cs: array<f32, WM * WN * SM * SN>; // a fragment per subgroup, in the epilogue

alias Left = subgroup_matrix_left<f16, SK, SM>;
alias Right = subgroup_matrix_right<f16, SN, SK>;
alias Result = subgroup_matrix_result<f32, SN, SM>;

//#if AGLOBAL
const LA = 1u; // unused
alias AFetch = u32;
fn fetchATile(j: u32, flat: u32, m0: u32, k0: u32) -> AFetch { return 0u; }
fn storeATile(j: u32, flat: u32, v: AFetch, scale: f32, buffer: u32) {}
fn rowScaleOf(j: u32, flat: u32, m0: u32) -> f32 { return 1.0; }

// Rows r…r + SM − 1 of A, columns k…k + SK − 1 (rows past M read whatever the robust load gives: their outputs are
// never stored).
fn leftFragment(r: u32, k: u32, buffer: u32) -> Left {
//#if LAYOUT
  return subgroupMatrixLoad<Left, row_major>(&A, r * p.K + k, p.K);
//#else
  return subgroupMatrixLoad<Left>(&A, r * p.K + k, false, p.K);
//#endif
}
//#else
const AS = BK + 8u; // row stride of As
const AV = BK / 4u; // vec4s per row of the A tile
const LA = BM * BK / 4u / THREADS; // vec4s of A each invocation moves per K tile
var<workgroup> As: array<f16, BM * AS * BUFFERS>;
alias AFetch = vec4<f32>;

// Slot flat + THREADS·j of the A tile: row s / AV, columns 4·(s % AV)…; zeros outside A.
fn fetchATile(j: u32, flat: u32, m0: u32, k0: u32) -> AFetch {
  let s = flat + THREADS * j;
  let m = m0 + s / AV;
  let k = k0 + (s % AV) * 4u;
  if (m >= p.M || k >= p.K) { return vec4<f32>(0.0); }
  return A[(m * p.K + k) / 4u];
}

fn storeATile(j: u32, flat: u32, v: AFetch, scale: f32, buffer: u32) {
  let s = flat + THREADS * j;
  let h = vec4<f16>(v * scale);
  let i = buffer * BM * AS + (s / AV) * AS + (s % AV) * 4u;
  As[i] = h.x;
  As[i + 1u] = h.y;
  As[i + 2u] = h.z;
  As[i + 3u] = h.w;
}

fn rowScaleOf(j: u32, flat: u32, m0: u32) -> f32 {
  let m = m0 + (flat + THREADS * j) / AV;
  return select(1.0, rowScale[min(m, p.M - 1u)], m < p.M);
}

// Tile rows r…r + SM − 1 (r relative to m0), columns k…k + SK − 1 of the buffer.
fn leftFragment(r: u32, k: u32, buffer: u32) -> Left {
//#if LAYOUT
  return subgroupMatrixLoad<Left, row_major>(&As, buffer * BM * AS + r * AS + k, AS);
//#else
  return subgroupMatrixLoad<Left>(&As, buffer * BM * AS + r * AS + k, false, AS);
//#endif
}
//#endif

// Ŵ's fragment for output columns n…n + SN − 1 (relative to n0), reduction k…k + SK − 1 (relative to the tile).
fn rightFragment(n: u32, k: u32, buffer: u32) -> Right {
//#if TRANS_B
  let at = buffer * BTILE + n * BS + k;
//#if LAYOUT
  return subgroupMatrixLoad<Right, col_major>(&Bs, at, BS);
//#else
  return subgroupMatrixLoad<Right>(&Bs, at, true, BS);
//#endif
//#else
  let at = buffer * BTILE + k * BS + n;
//#if LAYOUT
  return subgroupMatrixLoad<Right, row_major>(&Bs, at, BS);
//#else
  return subgroupMatrixLoad<Right>(&Bs, at, false, BS);
//#endif
//#endif
}

// The subgroup's i-th row of fragments (sm: its row of subgroups), reduction kk…kk + SK − 1 of tile t.
fn leftAt(i: u32, kk: u32, buffer: u32, t: u32, m0: u32, sm: u32) -> Left {
//#if AGLOBAL
  return leftFragment(m0 + (sm * FM + i) * SM, t * BK + kk, buffer);
//#else
  return leftFragment((sm * FM + i) * SM, kk, buffer);
//#endif
}

// Fragment (i, j) of the subgroup's accumulators into C, through the subgroup's share of Cs: scaled back, alpha,
// accumulate, bounds. Every invocation of the workgroup calls it (barriers).
fn storeFragment(c: Result, i: u32, j: u32, computes: bool, sg: u32, lane: u32, sgSize: u32, m0: u32, n0: u32) {
  let own = sg * SM * SN;
  let sm = sg % WM;
  let sn = sg / WM;
//#if LAYOUT
  if (computes) { subgroupMatrixStore<row_major>(&Cs, own, c, SN); }
//#else
  if (computes) { subgroupMatrixStore(&Cs, own, c, false, SN); }
//#endif
  workgroupBarrier();
  if (computes) {
    for (var e = lane; e < SM * SN; e += sgSize) {
      let m = m0 + (sm * FM + i) * SM + e / SN;
      let n = n0 + (sn * FN + j) * SN + e % SN;
      if (m < p.M && n < p.N) {
        var v = (p.alpha / rowScale[m]) * Cs[own + e];
        if (p.accumulate != 0u) { v += C[m * p.N + n]; }
        C[m * p.N + n] = v;
      }
    }
  }
  workgroupBarrier();
}

// Block b of the B tile (b < NB). Forward: row n0 + b / (BK / 32) of Ŵ, codes k0 + 32·(b % (BK / 32))…. Backward:
// row k0 + b / (BN / 32) of Ŵ, codes n0 + 32·(b % (BN / 32))…. Zeros outside Ŵ.
fn fetchBTile(b: u32, n0: u32, k0: u32) -> Slice {
//#if TRANS_B
  let r = n0 + b / (BK / 32u);
  let c = k0 / 32u + b % (BK / 32u);
  if (b >= NB || r >= p.N || c >= p.K / 32u) { return Slice(); }
  return fetchBlock(r * (p.K / 32u) + c);
//#else
  let r = k0 + b / (BN / 32u);
  let c = n0 / 32u + b % (BN / 32u);
  if (b >= NB || r >= p.K || c >= p.N / 32u) { return Slice(); }
  return fetchBlock(r * (p.N / 32u) + c);
//#endif
}

fn storeBTile(b: u32, v: Slice, buffer: u32) {
  if (b >= NB) { return; }
//#if TRANS_B
  let base = buffer * BTILE + (b / (BK / 32u)) * BS + (b % (BK / 32u)) * 32u;
//#else
  let base = buffer * BTILE + (b / (BN / 32u)) * BS + (b % (BN / 32u)) * 32u;
//#endif
  for (var j = 0u; j < 32u; j += 4u) {
    let h = vec4<f16>(decodeQuant4(blockQuant4(v, j)));
    Bs[base + j] = h.x;
    Bs[base + j + 1u] = h.y;
    Bs[base + j + 2u] = h.z;
    Bs[base + j + 3u] = h.w;
  }
}

@compute @workgroup_size(THREADS)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) flat: u32,
  @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32,
) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  // A device whose subgroups are smaller than SG has more of them than WM·WN: the extra ones only load tiles.
  let computes = sg < WM * WN;
  let sm = sg % WM;
  let sn = sg / WM;

  var scales: array<f32, LA>;
  for (var j = 0u; j < LA; j++) { scales[j] = rowScaleOf(j, flat, m0); }
//#if UNROLL
  var c00: Result; var c01: Result; var c02: Result; var c03: Result;
  var c10: Result; var c11: Result; var c12: Result; var c13: Result;
//#if FM4
  var c20: Result; var c21: Result; var c22: Result; var c23: Result;
  var c30: Result; var c31: Result; var c32: Result; var c33: Result;
//#endif
//#else
  var acc: array<array<Result, FN>, FM>;
//#endif
  var ra: array<AFetch, LA>;
  var rb: array<Slice, LB>;
  for (var j = 0u; j < LA; j++) { ra[j] = fetchATile(j, flat, m0, 0u); }
  for (var j = 0u; j < LB; j++) { rb[j] = fetchBTile(flat + THREADS * j, n0, 0u); }
  for (var j = 0u; j < LA; j++) { storeATile(j, flat, ra[j], scales[j], 0u); }
  for (var j = 0u; j < LB; j++) { storeBTile(flat + THREADS * j, rb[j], 0u); }
  workgroupBarrier();

  let tiles = (p.K + BK - 1u) / BK;
  for (var t = 0u; t < tiles; t++) {
    let next = t + 1u < tiles;
    let cur = t % BUFFERS;
    if (next) {
      let k0 = (t + 1u) * BK;
      for (var j = 0u; j < LA; j++) { ra[j] = fetchATile(j, flat, m0, k0); }
      for (var j = 0u; j < LB; j++) { rb[j] = fetchBTile(flat + THREADS * j, n0, k0); }
    }
    if (computes) {
      for (var kk = 0u; kk < BK; kk += SK) {
//#if UNROLL
        let l0 = leftAt(0u, kk, cur, t, m0, sm);
        let l1 = leftAt(1u, kk, cur, t, m0, sm);
//#if FM4
        let l2 = leftAt(2u, kk, cur, t, m0, sm);
        let l3 = leftAt(3u, kk, cur, t, m0, sm);
//#endif
        let r0 = rightFragment(sn * FN * SN, kk, cur);
        c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
        c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
//#if FM4
        c20 = subgroupMatrixMultiplyAccumulate(l2, r0, c20);
        c30 = subgroupMatrixMultiplyAccumulate(l3, r0, c30);
//#endif
        let r1 = rightFragment((sn * FN + 1u) * SN, kk, cur);
        c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
        c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
//#if FM4
        c21 = subgroupMatrixMultiplyAccumulate(l2, r1, c21);
        c31 = subgroupMatrixMultiplyAccumulate(l3, r1, c31);
//#endif
        let r2 = rightFragment((sn * FN + 2u) * SN, kk, cur);
        c02 = subgroupMatrixMultiplyAccumulate(l0, r2, c02);
        c12 = subgroupMatrixMultiplyAccumulate(l1, r2, c12);
//#if FM4
        c22 = subgroupMatrixMultiplyAccumulate(l2, r2, c22);
        c32 = subgroupMatrixMultiplyAccumulate(l3, r2, c32);
//#endif
        let r3 = rightFragment((sn * FN + 3u) * SN, kk, cur);
        c03 = subgroupMatrixMultiplyAccumulate(l0, r3, c03);
        c13 = subgroupMatrixMultiplyAccumulate(l1, r3, c13);
//#if FM4
        c23 = subgroupMatrixMultiplyAccumulate(l2, r3, c23);
        c33 = subgroupMatrixMultiplyAccumulate(l3, r3, c33);
//#endif
//#else
        var left: array<Left, FM>;
        for (var i = 0u; i < FM; i++) { left[i] = leftAt(i, kk, cur, t, m0, sm); }
        for (var j = 0u; j < FN; j++) {
          let right = rightFragment((sn * FN + j) * SN, kk, cur);
          for (var i = 0u; i < FM; i++) {
            acc[i][j] = subgroupMatrixMultiplyAccumulate(left[i], right, acc[i][j]);
          }
        }
//#endif
      }
    }
    // One buffer: wait until every subgroup is done with it before refilling it. Two: the other one is free (its
    // readers passed the barrier that ended the previous tile).
    if (BUFFERS == 1u) { workgroupBarrier(); }
    if (next) {
      let nxt = (t + 1u) % BUFFERS;
      for (var j = 0u; j < LA; j++) { storeATile(j, flat, ra[j], scales[j], nxt); }
      for (var j = 0u; j < LB; j++) { storeBTile(flat + THREADS * j, rb[j], nxt); }
    }
    workgroupBarrier();
  }

  // Epilogue, a fragment at a time.
//#if UNROLL
  storeFragment(c00, 0u, 0u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c01, 0u, 1u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c02, 0u, 2u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c03, 0u, 3u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c10, 1u, 0u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c11, 1u, 1u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c12, 1u, 2u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c13, 1u, 3u, computes, sg, lane, sgSize, m0, n0);
//#if FM4
  storeFragment(c20, 2u, 0u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c21, 2u, 1u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c22, 2u, 2u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c23, 2u, 3u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c30, 3u, 0u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c31, 3u, 1u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c32, 3u, 2u, computes, sg, lane, sgSize, m0, n0);
  storeFragment(c33, 3u, 3u, computes, sg, lane, sgSize, m0, n0);
//#endif
//#else
  for (var i = 0u; i < FM; i++) {
    for (var j = 0u; j < FN; j++) { storeFragment(acc[i][j], i, j, computes, sg, lane, sgSize, m0, n0); }
  }
//#endif
}
//#include "dequant.wgsl"
