// Decode-time forward of a quantized linear layer for one row of X (M = 1) when K is a multiple of 128, with X
// held in registers: Y[n] = Σ_k X[k]·Ŵ[n, k]. Invocation i of a workgroup owns the 32-code blocks i (and i + WG with
// SPL = 2) of K: it loads their X once into registers and then walks the workgroup's RPW rows of Ŵ, four at a time,
// reading the same blocks of each row (consecutive invocations read consecutive blocks: a subgroup's loads are one
// contiguous run); the next 4 rows' codes and statistics are requested before the current 4 are decoded. Each 4
// rows' partial sums are reduced across the subgroup at once (two shuffles scatter the four rows over the lanes,
// then the usual halving), and the subgroups' sums meet in workgroup memory at the end.
// Against gemv_units.wgsl, which stages X in workgroup memory and reads it there once per code and row of Ŵ, nothing
// but nf's level table is read from workgroup memory per code (those reads bounded its decoding, BENCHMARKS.md); but
// every workgroup stages all of X for only RPW rows. On an H200 it is the faster kernel for nf codes and
// double-quantized statistics, and the slower one for plain int codes (src/matmul/quantized.ts picks).
// Template: WG (invocations, a multiple of 32, ≥ K / 32 / SPL), SPL ∈ {1, 2}, RI (iterations of 4 rows: RPW = 4·RI),
// SGMIN (the device's smallest subgroup, ≥ 4), dequant.wgsl's BITS, GROUP_SIZE, NF, DQ with CODES4 = 1 for 2 and 4 bits,
// 0 for 3, and code_floats.wgsl. Workgroup memory: 128·WG bytes of X, 4·RPW·WG / SGMIN of partial sums. Needs
// subgroups (made of consecutive invocations, as gemv_store.wgsl assumes).

struct Params { M: u32, N: u32, K: u32, accumulate: u32, part1: u32, part2: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;   // [1, K]
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;   // [1, N]
// The quantized weight's bindings (2, 4, 5, 6) are in shaders/matmul/dequant.wgsl, included.

const WG = {{WG}}u;
const SPL = {{SPL}}u;
const RI = {{RI}}u;
const RPW = 4u * RI;
const MMAX = 1u; // for gemv_output.wgsl
const SUBGROUPS_MAX = WG / {{SGMIN}}u;
var<workgroup> partial: array<f32, RPW * SUBGROUPS_MAX>; // partial[row · SUBGROUPS_MAX + subgroup]

// A block's X: 8 vec4 in registers, and its Σ x.
struct XBlock { v: array<vec4<f32>, 8>, sum: f32 }

// X passes through workgroup memory on its way to the registers: read from global memory directly, each invocation's
// 128 bytes lay 128 bytes from its neighbour's (a subgroup's load touched 32 lines). Vec4 j of block b is stored at
// 8·b + (j ^ (b % 8)), so the 8 invocations of a 128-bit access phase read distinct banks.
var<workgroup> xs: array<vec4<f32>, 8u * WG>;

// Vec4 i of the WG blocks from block `first` on (zeros past K).
fn xAt(first: u32, i: u32) -> vec4<f32> {
  let v = 8u * first + i;
  return select(vec4<f32>(0.0), X[min(v, p.K / 4u - 1u)], v < p.K / 4u);
}

fn stageAt(i: u32, v: vec4<f32>) {
  let b = i / 8u;
  xs[8u * b + ((i % 8u) ^ (b % 8u))] = v;
}

// Blocks first … first + WG − 1 staged at once (all loads issued before any store), and block first + lid returned.
// Call from uniform control flow.
fn loadX(first: u32, lid: u32) -> XBlock {
  let l0 = xAt(first, lid);
  let l1 = xAt(first, WG + lid);
  let l2 = xAt(first, 2u * WG + lid);
  let l3 = xAt(first, 3u * WG + lid);
  let l4 = xAt(first, 4u * WG + lid);
  let l5 = xAt(first, 5u * WG + lid);
  let l6 = xAt(first, 6u * WG + lid);
  let l7 = xAt(first, 7u * WG + lid);
  workgroupBarrier(); // a previous call's reads are done
  stageAt(lid, l0);
  stageAt(WG + lid, l1);
  stageAt(2u * WG + lid, l2);
  stageAt(3u * WG + lid, l3);
  stageAt(4u * WG + lid, l4);
  stageAt(5u * WG + lid, l5);
  stageAt(6u * WG + lid, l6);
  stageAt(7u * WG + lid, l7);
  workgroupBarrier();
  var x: XBlock;
  let r = lid % 8u;
  x.v = array<vec4<f32>, 8>(xs[8u * lid + r], xs[8u * lid + (1u ^ r)], xs[8u * lid + (2u ^ r)], xs[8u * lid + (3u ^ r)],
                            xs[8u * lid + (4u ^ r)], xs[8u * lid + (5u ^ r)], xs[8u * lid + (6u ^ r)], xs[8u * lid + (7u ^ r)]);
  let s = ((x.v[0] + x.v[1]) + (x.v[2] + x.v[3])) + ((x.v[4] + x.v[5]) + (x.v[6] + x.v[7]));
  x.sum = (s.x + s.y) + (s.z + s.w);
  return x;
}

// Block b of a row as loaded (dequant.wgsl's Slice: its BITS words and its group's statistics).
fn fetchSlice(row: u32, b: u32, blocks: u32) -> Slice {
  return fetchBlock(min(row, p.N - 1u) * blocks + b); // rows past N are computed, never stored
}

struct Rows4 { r0: Slice, r1: Slice, r2: Slice, r3: Slice }

fn fetchRows(row: u32, b: u32, blocks: u32) -> Rows4 {
  return Rows4(fetchSlice(row, b, blocks), fetchSlice(row + 1u, b, blocks), fetchSlice(row + 2u, b, blocks), fetchSlice(row + 3u, b, blocks));
}

// Four rows at the invocation's one or two blocks (b1 only with SPL = 2).
struct Fetch { a: Rows4, b: Rows4 }

fn fetchAll(row: u32, b0: u32, b1: u32, blocks: u32) -> Fetch {
  var f: Fetch;
  f.a = fetchRows(row, b0, blocks);
  if (SPL == 2u) { f.b = fetchRows(row, b1, blocks); }
  return f;
}

// Σ level·x over the block's 32 codes (their floats f, four per vec4 of X), in two vec4 chains.
fn blockDot(c: vec4<u32>, x: XBlock) -> f32 {
  var f: array<vec4<f32>, 8>;
  if (BITS == 4u) {
    let f0 = wordFloats4(c.x);
    let f1 = wordFloats4(c.y);
    let f2 = wordFloats4(c.z);
    let f3 = wordFloats4(c.w);
    f = array<vec4<f32>, 8>(f0[0], f0[1], f1[0], f1[1], f2[0], f2[1], f3[0], f3[1]);
  } else {
    let f0 = wordFloats2(c.x, c.z);
    let f1 = wordFloats2(c.y, c.z >> 16u);
    f = array<vec4<f32>, 8>(f0[0], f0[1], f0[2], f0[3], f1[0], f1[1], f1[2], f1[3]);
  }
  let a = fma(f[6], x.v[6], fma(f[4], x.v[4], fma(f[2], x.v[2], f[0] * x.v[0])));
  let b = fma(f[7], x.v[7], fma(f[5], x.v[5], fma(f[3], x.v[3], f[1] * x.v[1])));
  let s = a + b;
  return (s.x + s.y) + (s.z + s.w);
}

// The block's share of its row's output: its group's (s, o) applied to (Σ level·x, Σ x) (code_floats.wgsl).
fn sliceSum(s: Slice, x: XBlock) -> f32 {
  return applyStats(decodeStats(s.st), vec2<f32>(blockDot(s.c, x), x.sum));
}

fn rowSums(r: Rows4, x: XBlock) -> vec4<f32> {
  return vec4<f32>(sliceSum(r.r0, x), sliceSum(r.r1, x), sliceSum(r.r2, x), sliceSum(r.r3, x));
}

// Four rows' partial sums summed over the subgroup: after two exchanges lane l holds row l % 4 summed over the lanes
// that agree with it in bits 0 and 1, then the halving sums those. Lanes 0…3 return rows 0…3.
fn subgroupSum4(d: vec4<f32>, lane: u32, size: u32) -> f32 {
  let odd = (lane & 1u) == 1u;
  let ab = select(d.x, d.y, odd) + subgroupShuffleXor(select(d.y, d.x, odd), 1u);
  let cd = select(d.z, d.w, odd) + subgroupShuffleXor(select(d.w, d.z, odd), 1u);
  let upper = (lane & 2u) == 2u;
  var s = select(ab, cd, upper) + subgroupShuffleXor(select(cd, ab, upper), 2u);
  for (var mask = 4u; mask < size; mask *= 2u) { s += subgroupShuffleXor(s, mask); }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32) {
//#if NF
  if (lid < (1u << BITS)) { levels[lid] = levelTable[lid]; }
  workgroupBarrier();
//#else
  _ = levelTable[0];
//#endif
  let blocks = p.K / 32u;
  let firstRow = wg.x * RPW;
  // Invocations past K's blocks take part in the shuffles with X = 0 (their codes are read from the last block).
  // The first rows' codes are requested before X is staged.
  let b0 = min(lid, blocks - 1u);
  let b1 = min(WG + lid, blocks - 1u);
  var cur = fetchAll(firstRow, b0, b1, blocks);
  let x0 = loadX(0u, lid);
  var x1: XBlock;
  if (SPL == 2u) { x1 = loadX(WG, lid); }
  let subgroup = lid / size;
  for (var it = 0u; it < RI; it++) {
    // The next 4 rows are requested before these are decoded (2 iterations ahead measured 3–12 % slower).
    var next = cur;
    if (it + 1u < RI) { next = fetchAll(firstRow + 4u * (it + 1u), b0, b1, blocks); }
    var d = rowSums(cur.a, x0);
    if (SPL == 2u) { d += rowSums(cur.b, x1); }
    let s = subgroupSum4(d, lane, size);
    if (lane < 4u) { partial[(4u * it + lane) * SUBGROUPS_MAX + subgroup] = s; }
    cur = next;
  }
  workgroupBarrier();
  if (lid < RPW) {
    var sum = 0.0;
    for (var g = 0u; g < WG / size; g++) { sum += partial[lid * SUBGROUPS_MAX + g]; }
    storeOutput(firstRow, lid, sum);
  }
}
//#include "code_floats.wgsl"
//#include "gemv_output.wgsl"
//#include "dequant.wgsl"
