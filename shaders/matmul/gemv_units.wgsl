// Decode-time forward of a quantized linear layer when K is a multiple of 128: Y[m, n] = Σ_k X[m, k]·Ŵ[n, k]
// for M ≤ 8 rows of X (shaders/matmul/gemv.wgsl takes other K, and dense weights; gemv_slices.wgsl takes M = 1 for 4-bit nf
// codes and DQ statistics, where it measured faster). Its floor is reading the packed
// weight once. The unit of work is 128 weights of one row: BITS vec4 code words loaded at once (four 32-code
// blocks, so 2, 3 and 4 bits all load whole vec4s) and the 128/GROUP_SIZE statistics of its groups. A workgroup owns
// ROWS = WG / LANES rows; a row's LANES invocations take consecutive units (its codes are read as
// 16·BITS·LANES contiguous bytes), UPL units each per chunk. A chunk's X is staged in workgroup memory behind
// one barrier — by default the whole of X — with the Σ x of each 32-block (behind a second), and an invocation requests its next unit's codes and statistics
// before decoding the current one. One vec4 of padding per unit keeps the 8 invocations of a 128-bit access
// phase on distinct banks. (Read from global memory instead, each invocation's X lay 512 B from its
// neighbour's and X alone took 13 of 23 µs at 4096² int4 on the H100; one unit per lane and chunk, i.e. a
// barrier per 8 units, took 12.1 against 9.8 µs with all of X in one chunk — BENCHMARKS.md.)
// Per group, Σ (s·l + o)·x = s·Σ l·x + o·Σ x: one multiply-add per weight, the statistics once per group, Σ x
// once per chunk for all rows of the workgroup; each code word is decoded once for all M rows of X.
// Template: LANES ∈ {1, 2, 4, …, 32}, MR = M ∈ 1..8, UPL ≥ 1 (workgroup memory: 544·LANES·UPL·M bytes of X and its sums,
// and without SUBGROUPS 1024·M of partial sums), gemv_store.wgsl's SUBGROUPS, and dequant.wgsl's BITS, GROUP_SIZE,
// NF, DQ with CODES4 = 1; code_floats.wgsl decodes the codes (int codes in f16 pairs: against one code at a time
// in an f32, int4 −3 to −4 %, int2 and int3 −7 to −9 % at M = 1 on an H200, h200-gemv-half-ab.json).

// M equals the template's MR. part1, part2: where the 2nd and 3rd parts of a stacked weight start (N when
// it has fewer); Y holds each part's rows as its own [M, rows] block (gemv_store.wgsl).
struct Params { M: u32, N: u32, K: u32, accumulate: u32, part1: u32, part2: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;   // [M, K]
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;   // [M, N]
// The quantized weight's bindings (2, 4, 5, 6) are in shaders/matmul/dequant.wgsl, included.

const LANES = {{LANES}}u;
const MMAX = {{MR}}u;
const WG = 256u; // invocations per workgroup (128 and 64 measured slower on the H100)
const ROWS = WG / LANES;
const UPL = {{UPL}}u;      // units per lane in a chunk
const CHUNK = LANES * UPL; // units per chunk: their X is staged at once
const UNIT_GROUPS = 128u / GROUP_SIZE;
const STAGE = (32u * CHUNK * MMAX + WG - 1u) / WG; // vec4s of X each invocation stages per chunk

const UNIT_X = 33u; // vec4s of X per unit in workgroup memory: 32 and one of padding
var<workgroup> xs: array<vec4<f32>, UNIT_X * CHUNK * MMAX>; // the chunk's X: xs[(m·CHUNK + unit)·UNIT_X + j]
var<workgroup> xsum: array<f32, 4u * CHUNK * MMAX>; // Σ x of each 32-block: xsum[(m·CHUNK + unit)·4 + block]
// The helpers return Σ level·x over a block of 32 codes for every row m of X: each word's codes are decoded
// once and used for all M rows, into four running sums per row (one multiply-add per weight, four independent
// chains), added up at the block's end. Σ x of the block is not summed here: it is the same for every output row,
// so it is summed once per chunk into xsum. Straight-line code with constant shifts: no register arrays indexed
// by data, which the driver may put in local memory. (Against dot products per word, each row's invocations
// summing Σ x too and two shifts per code: M = 1 −4 to −12 % on the H100, h100-gemv-diet-ab.json.)
alias Quads = array<vec4<f32>, MMAX>;
alias Dots = array<f32, MMAX>;
const XM = CHUNK * UNIT_X; // xs stride from one row of X to the next

fn sumX(a: vec4<f32>) -> f32 { return (a.x + a.y) + (a.z + a.w); }

fn blockDots(r: Quads) -> Dots {
  var d: Dots;
  for (var m = 0u; m < MMAX; m++) { d[m] = sumX(r[m]); }
  return d;
}

// Four codes' floats times X vec4 j of the block (xs[xv + j] for row 0), into r.
fn quadInto(q: vec4<f32>, xv: u32, j: u32, r: ptr<function, Quads>) {
  for (var m = 0u; m < MMAX; m++) { (*r)[m] = fma(q, xs[xv + m * XM + j], (*r)[m]); }
}

// 4 bits: 8 codes per word, a block of 32 codes is one vec4 of words.
fn word4(w: u32, xv: u32, j: u32, r: ptr<function, Quads>) {
  let f = wordFloats4(w);
  quadInto(f[0], xv, j, r);
  quadInto(f[1], xv, j + 1u, r);
}
fn block4(c: vec4<u32>, xv: u32) -> Dots {
  var r = Quads(); // zeroed explicitly: SwiftShader has kept a loop-local array's values from the previous iteration
  word4(c.x, xv, 0u, &r);
  word4(c.y, xv, 2u, &r);
  word4(c.z, xv, 4u, &r);
  word4(c.w, xv, 6u, &r);
  return blockDots(r);
}

// 2 bits: 16 codes per word; 3 bits: the same for the low two bits, and hi holding the 16 codes' third bits from
// bit 0.
fn word2(w: u32, hi: u32, xv: u32, j: u32, r: ptr<function, Quads>) {
  let f = wordFloats2(w, hi);
  quadInto(f[0], xv, j, r);
  quadInto(f[1], xv, j + 1u, r);
  quadInto(f[2], xv, j + 2u, r);
  quadInto(f[3], xv, j + 3u, r);
}
fn block2(w0: u32, w1: u32, xv: u32) -> Dots {
  var r = Quads();
  word2(w0, 0u, xv, 0u, &r);
  word2(w1, 0u, xv, 4u, &r);
  return blockDots(r);
}
fn block3(lo0: u32, lo1: u32, hi: u32, xv: u32) -> Dots {
  var r = Quads();
  word2(lo0, hi, xv, 0u, &r);
  word2(lo1, hi >> 16u, xv, 4u, &r);
  return blockDots(r);
}

// A unit's four blocks (Σ level·x, Σ x) with the statistics of its groups.
fn unitSum(st: array<vec2<f32>, 4>, r0: vec2<f32>, r1: vec2<f32>, r2: vec2<f32>, r3: vec2<f32>) -> f32 {
  if (GROUP_SIZE == 32u) {
    return (applyStats(st[0], r0) + applyStats(st[1], r1)) + (applyStats(st[2], r2) + applyStats(st[3], r3));
  } else if (GROUP_SIZE == 64u) {
    return applyStats(st[0], r0 + r1) + applyStats(st[1], r2 + r3);
  }
  return applyStats(st[0], (r0 + r1) + (r2 + r3));
}

// The (s, o) of a unit's 128 / GROUP_SIZE groups, requested with its codes so that one memory latency covers both.
fn unitStats(row: u32, u: u32, groups: u32) -> array<vec2<f32>, 4> {
  let g0 = row * groups + u * UNIT_GROUPS;
  var st: array<vec2<f32>, 4>;
  st[0] = groupStats(g0);
  if (UNIT_GROUPS >= 2u) { st[1] = groupStats(g0 + 1u); }
  if (UNIT_GROUPS == 4u) {
    st[2] = groupStats(g0 + 2u);
    st[3] = groupStats(g0 + 3u);
  }
  return st;
}

// A unit's 2, 3 or 4 vec4 code words; zeros past BITS.
fn unitCodes(row: u32, u: u32, units: u32) -> array<vec4<u32>, 4> {
  let first = (row * units + u) * BITS;
  var c = array<vec4<u32>, 4>(codes[first], codes[first + 1u], vec4<u32>(0u), vec4<u32>(0u));
  if (BITS >= 3u) { c[2] = codes[first + 2u]; }
  if (BITS == 4u) { c[3] = codes[first + 3u]; }
  return c;
}

// Unit `unit` of the chunk, of one row, against all M rows of X, added into acc.
fn unitRows(c: array<vec4<u32>, 4>, st: array<vec2<f32>, 4>, unit: u32, acc: ptr<function, array<f32, MMAX>>) {
  let xv = unit * UNIT_X;
  var d0: Dots;
  var d1: Dots;
  var d2: Dots;
  var d3: Dots;
  if (BITS == 4u) {
    d0 = block4(c[0], xv);
    d1 = block4(c[1], xv + 8u);
    d2 = block4(c[2], xv + 16u);
    d3 = block4(c[3], xv + 24u);
  } else if (BITS == 2u) {
    d0 = block2(c[0].x, c[0].y, xv);
    d1 = block2(c[0].z, c[0].w, xv + 8u);
    d2 = block2(c[1].x, c[1].y, xv + 16u);
    d3 = block2(c[1].z, c[1].w, xv + 24u);
  } else {
    d0 = block3(c[0].x, c[0].y, c[0].z, xv);
    d1 = block3(c[0].w, c[1].x, c[1].y, xv + 8u);
    d2 = block3(c[1].z, c[1].w, c[2].x, xv + 16u);
    d3 = block3(c[2].y, c[2].z, c[2].w, xv + 24u);
  }
  for (var m = 0u; m < MMAX; m++) {
    let sx = 4u * (m * CHUNK + unit);
    (*acc)[m] += unitSum(st, vec2<f32>(d0[m], xsum[sx]), vec2<f32>(d1[m], xsum[sx + 1u]), vec2<f32>(d2[m], xsum[sx + 2u]), vec2<f32>(d3[m], xsum[sx + 3u]));
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
//#if NF
  if (lid < (1u << BITS)) { levels[lid] = levelTable[lid]; }
  workgroupBarrier();
//#else
  _ = levelTable[0];
//#endif
  let rowInGroup = lid / LANES;
  let lane = lid % LANES;
  let row = min(wg.x * ROWS + rowInGroup, p.N - 1u); // rows past N are computed, never stored
  let units = p.K / 128u;
  let groups = p.K / GROUP_SIZE;
  let xRow = p.K / 4u; // vec4s per row of X
  var acc: array<f32, MMAX>;
  let chunks = (units + CHUNK - 1u) / CHUNK;
  for (var chunk = 0u; chunk < chunks; chunk++) {
    // The first unit's code words and statistics are requested first; staging X below overlaps their latency.
    var u = chunk * CHUNK + lane;
    var c = unitCodes(row, min(u, units - 1u), units);
    var st = unitStats(row, min(u, units - 1u), groups);
    // All of an invocation's X loads are issued before any is stored (a loop storing each before loading the next
    // waited out a memory latency per vec4).
    var staged: array<vec4<f32>, STAGE>;
    for (var r = 0u; r < STAGE; r++) {
      let i = r * WG + lid; // (m, v): vec4 v of row m of the chunk's X
      let col = chunk * 32u * CHUNK + i % (32u * CHUNK);
      staged[r] = select(vec4<f32>(0.0), X[min(i / (32u * CHUNK), MMAX - 1u) * xRow + min(col, xRow - 1u)], col < xRow);
    }
    for (var r = 0u; r < STAGE; r++) {
      let i = r * WG + lid;
      let v = i % (32u * CHUNK);
      if (i < 32u * CHUNK * MMAX) { xs[((i / (32u * CHUNK)) * CHUNK + v / 32u) * UNIT_X + v % 32u] = staged[r]; }
    }
    workgroupBarrier();
    // Σ x of every 32-block of the chunk, for every row of X: one invocation per block.
    for (var t = lid; t < 4u * CHUNK * MMAX; t += WG) {
      let x0 = (t / 4u) * UNIT_X + (t % 4u) * 8u;
      var b = xs[x0];
      for (var j = 1u; j < 8u; j++) { b += xs[x0 + j]; }
      xsum[t] = sumX(b);
    }
    workgroupBarrier();
    for (var k = 0u; k < UPL; k++) {
      // The lane's next unit in the chunk is requested before this one is decoded. (Requesting all of them at
      // the chunk's start, into register arrays, measured 1.7–2.6× slower on the H100; two ahead, 8–10 % slower.)
      var cNext = c;
      var stNext = st;
      if (k + 1u < UPL) {
        cNext = unitCodes(row, min(u + LANES, units - 1u), units);
        stNext = unitStats(row, min(u + LANES, units - 1u), groups);
      }
      if (u < units) { unitRows(c, st, k * LANES + lane, &acc); }
      u += LANES;
      c = cNext;
      st = stNext;
    }
    workgroupBarrier(); // the next chunk overwrites xs
  }
  reduceAndStore(wg.x * ROWS, lid, acc);
}
//#include "code_floats.wgsl"
//#include "gemv_store.wgsl"
//#include "dequant.wgsl"
