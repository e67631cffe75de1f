// Batched f32 matmul: C[b] = alpha · op(A[b]) · op(B[b])  (+ C[b] when accumulate != 0).
// Layout (row-major): A is [M,K], or [K,M] when TRANS_A; B is [K,N], or [N,K] when TRANS_B; C is [M,N].
//   Batch b starts at b·strideA / b·strideB / b·strideC elements.
// Tiling: a 16×16 workgroup computes a BM×BN = (16·TM)×(16·TN) tile of C. Each invocation keeps a
//   TM×TN register tile (rows ty·TM.., columns tx·TN..). K advances BK at a time through
//   workgroup memory, As[k][m] and Bs[k][n] (both k-major so the inner loop reads vec4s); the next
//   K tile is fetched into registers while the current one is multiplied (register double buffering).
// QUANT = 1: B is a quantized weight Ŵ [out, in], dequantized tile by tile as the tiles go into workgroup memory
//   (never as a whole matrix): TRANS_B = 1 gives Y = X·Ŵᵀ (forward), TRANS_B = 0 gives dX = dY·Ŵ
//   (backward-input); BITS, GROUP_SIZE, NF, DQ describe its format; BLOCKB = 1 (TRANS_B only; dequant.wgsl's CODES4 = 1 for
//   2 and 4 bits) fetches B a 32-code block per row at a time (fetchB below); SHAREDSTATS = 1 (TRANS_B = 0 only) loads
//   each group statistic a B tile needs once, into workgroup memory (Ss below), rather than once per slot.
// Template: TM, TN ∈ {4, 8}; BK ∈ {8, 16, 32} (BM·BK/1024 ≥ 1); MGROUP ≥ 0 (tile order, main); BLOCKB ∈ {0, 1};
//   SHAREDSTATS ∈ {0, 1}; TRANS_A, TRANS_B ∈ {0, 1}; VEC4 = 1 reads and writes global memory as
//   vec4 and needs M, N, K (and the batch strides) to be multiples of 4; VEC4 = 0 is the general path.

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  accumulate: u32, strideA: u32, strideB: u32, strideC: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
//#if VEC4
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
//#else
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
//#endif
//#if QUANT
// B is a quantized weight Ŵ [out, in] (src/quant/format.ts): its bindings (2, 4, 5, 6) and reads are in
// shaders/matmul/dequant.wgsl, included.
//#else
//#if VEC4
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
//#else
@group(0) @binding(2) var<storage, read> B: array<f32>;
//#endif
//#endif

const TM = {{TM}}u;
const TN = {{TN}}u;
const BM = 16u * TM;
const BN = 16u * TN;
const BK = {{BK}}u;
const MGROUP = {{MGROUP}}u; // 0: workgroups in grid order; else M-blocks per group (main)
const LA = BM * BK / 4u / 256u; // vec4s of A each invocation moves per K tile
const LB = BN * BK / 4u / 256u;

var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;

// Four consecutive elements (r, c..c+3) of a row-major [rows, cols] matrix starting at `base`;
// out-of-range elements read as 0.
//#if VEC4
fn loadA4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  if (r >= rows || c >= cols) { return vec4<f32>(0.0); }
  return A[(base + r * cols + c) / 4u];
}
//#else
fn loadA4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (r < rows) {
    for (var i = 0u; i < 4u; i++) { if (c + i < cols) { v[i] = A[base + r * cols + c + i]; } }
  }
  return v;
}
//#endif

// B tiles are fetched into registers as BFetch. QUANT (shaders/matmul/dequant.wgsl, included): the code words and
// statistics of Ŵ[r, c..c+3]; decodeB turns them into f32 after the tile's multiply-adds, so no decoding sits
// between a fetch and the multiply-adds. On the H100 the backward is fastest with the words kept as loaded until
// then (M = 2048: 0.87 → 0.90 of f32; M = 512: 0.72 → 0.89), the forward with them shifted at fetch time (0.90 →
// 0.945 at M = 2048): BENCHMARKS.md. f32 B is fetched as is.
//#if QUANT
//#if BLOCKB
// BLOCKB (the forward): an invocation's slot stays in one row of Ŵ from tile to tile, so it loads the row's 32-code
// block (dequant.wgsl's Slice: BITS words and the group's statistics) once per 32 / BK tiles and decodes its four
// codes from it tile by tile (K = in is a multiple of the group size, so of 32). On an H200 that is +0 to +9 % on
// 128×64 tiles and −2 to −17 % on 128×128 ones (src/matmul/quantized.ts forwardFetch picks; BENCHMARKS.md).
alias BFetch = Slice;
fn fetchB(s: u32, n0: u32, k0: u32, base: u32) -> BFetch {
  let r = n0 + s / (BK / 4u);
  if (r >= p.N) { return Slice(); }
  return fetchBlock(r * (p.K / 32u) + k0 / 32u);
}
fn decodeB(v: BFetch, s: u32, k0: u32) -> vec4<f32> { return decodeQuant4(blockQuant4(v, k0 % 32u + (s % (BK / 4u)) * 4u)); }
//#else
alias BFetch = QuantFetch;
fn loadB4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> BFetch {
  if (r >= rows || c >= cols) { return QuantFetch(); }
//#if SHAREDSTATS
  let f = fetchCodes4(r, c, cols);
//#else
  let f = fetchQuant4(r, c, cols);
//#endif
//#if TRANS_B
  return alignQuant4(f);
//#else
  return f;
//#endif
}
//#if SHAREDSTATS
fn decodeB(v: BFetch, s: u32, k0: u32) -> vec4<f32> { return decodeCodes4(v, slotStats(s)); }

// SHAREDSTATS (the backward): a B tile is BK rows of Ŵ by BN columns, SPR groups of each row, whose statistics, (s, o)
// decoded, sit in workgroup memory. Invocations flat < NS load one each with the tile's codes (fetchTileStats) and
// store it after the multiply-adds of the tile before (storeTileStats), where the slots' decoding reads it after the
// next barrier. On H200s that is +0 to +11 % on 128×64 and 64×64 tiles without DQ statistics and −13 to +5 % on
// 128×128 ones at K-depth 8 (src/matmul/quantized.ts backwardSharedStats picks; BENCHMARKS.md). The forward measured
// slower that way on every tiling it was tried on (65927b1).
const SPR = max(1u, BN / GROUP_SIZE);
const NS = BK * SPR;
var<workgroup> Ss: array<vec2<f32>, NS>;

fn fetchTileStats(flat: u32, n0: u32, k0: u32) -> StatsFetch {
  let r = k0 + flat / SPR;
  let g = n0 / GROUP_SIZE + flat % SPR;
  if (flat >= NS || r >= p.K || g >= p.N / GROUP_SIZE) { return StatsFetch(); }
  return fetchStats(r * (p.N / GROUP_SIZE) + g);
}

fn storeTileStats(flat: u32, f: StatsFetch) {
  if (flat < NS) { Ss[flat] = decodeStats(f); }
}

// Slot s's (s, o).
fn slotStats(s: u32) -> vec2<f32> {
  let k = s / (BN / 4u);
  let n = (s % (BN / 4u)) * 4u;
  return Ss[k * SPR + n / GROUP_SIZE];
}
//#else
fn decodeB(v: BFetch, s: u32, k0: u32) -> vec4<f32> { return decodeQuant4(v); }
//#endif
//#endif
//#else
alias BFetch = vec4<f32>;
//#if VEC4
fn loadB4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  if (r >= rows || c >= cols) { return vec4<f32>(0.0); }
  return B[(base + r * cols + c) / 4u];
}
//#else
fn loadB4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (r < rows) {
    for (var i = 0u; i < 4u; i++) { if (c + i < cols) { v[i] = B[base + r * cols + c + i]; } }
  }
  return v;
}
//#endif
//#endif

// Slot s of the A tile: which (k, m) its vec4 starts at, along A's contiguous dimension.
fn fetchA(s: u32, m0: u32, k0: u32, base: u32) -> vec4<f32> {
//#if TRANS_A
  let k = s / (BM / 4u);
  let m = (s % (BM / 4u)) * 4u;
  return loadA4(base, k0 + k, m0 + m, p.K, p.M);
//#else
  let m = s / (BK / 4u);
  let k = (s % (BK / 4u)) * 4u;
  return loadA4(base, m0 + m, k0 + k, p.M, p.K);
//#endif
}

fn storeA(s: u32, v: vec4<f32>) {
//#if TRANS_A
  As[s] = v; // s = k·BM/4 + m/4 already
//#else
  let m = s / (BK / 4u);
  let k = (s % (BK / 4u)) * 4u;
  for (var i = 0u; i < 4u; i++) { As[(k + i) * (BM / 4u) + m / 4u][m % 4u] = v[i]; }
//#endif
}

//#if BLOCKB
//#else
fn fetchB(s: u32, n0: u32, k0: u32, base: u32) -> BFetch {
//#if TRANS_B
  let n = s / (BK / 4u);
  let k = (s % (BK / 4u)) * 4u;
  return loadB4(base, n0 + n, k0 + k, p.N, p.K);
//#else
  let k = s / (BN / 4u);
  let n = (s % (BN / 4u)) * 4u;
  return loadB4(base, k0 + k, n0 + n, p.K, p.N);
//#endif
}
//#endif

fn storeB(s: u32, v: vec4<f32>) {
//#if TRANS_B
  let n = s / (BK / 4u);
  let k = (s % (BK / 4u)) * 4u;
  for (var i = 0u; i < 4u; i++) { Bs[(k + i) * (BN / 4u) + n / 4u][n % 4u] = v[i]; }
//#else
  Bs[s] = v;
//#endif
}

//#if QUANT
// An invocation's share of a B tile (LB vec4 slots, flat + 256·j), fetched and stored through functions in the
// quantized variants while the f32 kernel keeps the same loops inline in main: on the H100 the function form
// measured ~16 % faster for the quantized forward at BK 8 and ~8 % slower for f32 (BENCHMARKS.md) — the driver's
// register allocation and scheduling, not the arithmetic, which is the same.
fn fetchBTile(rb: ptr<function, array<BFetch, LB>>, flat: u32, n0: u32, k0: u32, base: u32) {
//#if BLOCKB
  if (k0 % 32u != 0u) { return; } // the blocks in rb serve this tile too
//#endif
  for (var j = 0u; j < LB; j++) { (*rb)[j] = fetchB(flat + 256u * j, n0, k0, base); }
}

fn storeBTile(rb: ptr<function, array<BFetch, LB>>, flat: u32, k0: u32) {
  for (var j = 0u; j < LB; j++) { storeB(flat + 256u * j, decodeB((*rb)[j], flat + 256u * j, k0)); }
}
//#endif

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let tx = lid.x;
  let ty = lid.y;
  let flat = ty * 16u + tx;
//#if MGROUP
  // Launch order takes MGROUP M-blocks of one N-block, then of the next: a wave of workgroups covers a patch of C
  // rather than whole rows of tiles (the quantized backward at 4096×11008, M = 2048: 0.82 → 0.86 of f32 on the
  // H100; BENCHMARKS.md). The last group may hold fewer M-blocks.
  let lin = wg.y * nwg.x + wg.x;
  let inGroup = MGROUP * nwg.x;
  let firstM = (lin / inGroup) * MGROUP;
  let mBlocks = min(nwg.y - firstM, MGROUP);
  let m0 = (firstM + (lin % inGroup) % mBlocks) * BM;
  let n0 = ((lin % inGroup) / mBlocks) * BN;
//#else
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
//#endif
  let baseA = wg.z * p.strideA;
  let baseB = wg.z * p.strideB;
  let baseC = wg.z * p.strideC;

  var acc: array<vec4<f32>, TM * TN / 4u>;
  var ra: array<vec4<f32>, LA>;
  var rb: array<BFetch, LB>;
//#if SHAREDSTATS
  var rs = fetchTileStats(flat, n0, 0u);
//#endif

  let tiles = (p.K + BK - 1u) / BK;
  for (var j = 0u; j < LA; j++) { ra[j] = fetchA(flat + 256u * j, m0, 0u, baseA); }
//#if QUANT
  fetchBTile(&rb, flat, n0, 0u, baseB);
//#else
  for (var j = 0u; j < LB; j++) { rb[j] = fetchB(flat + 256u * j, n0, 0u, baseB); }
//#endif
  for (var j = 0u; j < LA; j++) { storeA(flat + 256u * j, ra[j]); }
//#if SHAREDSTATS
  storeTileStats(flat, rs);
  workgroupBarrier();
//#endif
//#if QUANT
  storeBTile(&rb, flat, 0u);
//#else
  for (var j = 0u; j < LB; j++) { storeB(flat + 256u * j, rb[j]); }
//#endif
  workgroupBarrier();

  for (var t = 0u; t < tiles; t++) {
    let next = t + 1u < tiles;
    if (next) {
      let k0 = (t + 1u) * BK;
      for (var j = 0u; j < LA; j++) { ra[j] = fetchA(flat + 256u * j, m0, k0, baseA); }
//#if QUANT
      fetchBTile(&rb, flat, n0, k0, baseB);
//#if SHAREDSTATS
      rs = fetchTileStats(flat, n0, k0);
//#endif
//#else
      for (var j = 0u; j < LB; j++) { rb[j] = fetchB(flat + 256u * j, n0, k0, baseB); }
//#endif
    }
    for (var k = 0u; k < BK; k++) {
      var a: array<vec4<f32>, TM / 4u>;
      var b: array<vec4<f32>, TN / 4u>;
      for (var i = 0u; i < TM / 4u; i++) { a[i] = As[k * (BM / 4u) + ty * (TM / 4u) + i]; }
      for (var i = 0u; i < TN / 4u; i++) { b[i] = Bs[k * (BN / 4u) + tx * (TN / 4u) + i]; }
      for (var i = 0u; i < TM; i++) {
        let ai = a[i / 4u][i % 4u];
        for (var q = 0u; q < TN / 4u; q++) {
          acc[i * (TN / 4u) + q] = fma(vec4<f32>(ai), b[q], acc[i * (TN / 4u) + q]);
        }
      }
    }
//#if SHAREDSTATS
    if (next) { storeTileStats(flat, rs); } // Ss's last readers passed the barrier after them
//#endif
    workgroupBarrier();
    if (next) {
      for (var j = 0u; j < LA; j++) { storeA(flat + 256u * j, ra[j]); }
//#if QUANT
      storeBTile(&rb, flat, (t + 1u) * BK);
//#else
      for (var j = 0u; j < LB; j++) { storeB(flat + 256u * j, rb[j]); }
//#endif
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty * TM + i;
    if (m >= p.M) { break; }
    for (var q = 0u; q < TN / 4u; q++) {
      let n = n0 + tx * TN + q * 4u;
      var v = p.alpha * acc[i * (TN / 4u) + q];
//#if VEC4
      if (n < p.N) {
        let idx = (baseC + m * p.N + n) / 4u;
        if (p.accumulate != 0u) { v += C[idx]; }
        C[idx] = v;
      }
//#else
      for (var c = 0u; c < 4u; c++) {
        if (n + c < p.N) {
          let idx = baseC + m * p.N + n + c;
          var x = v[c];
          if (p.accumulate != 0u) { x += C[idx]; }
          C[idx] = x;
        }
      }
//#endif
    }
  }
}
//#if QUANT
//#include "dequant.wgsl"
//#endif
