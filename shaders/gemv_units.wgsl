// Decode-time forward of a quantized linear layer when K is a multiple of 128: Y[m, n] = Σ_k X[m, k]·Ŵ[n, k]
// for M ≤ 8 rows of X (shaders/gemv.wgsl takes other K, and dense weights). Its floor is reading the packed
// weight once. The unit of work is 128 weights of one row: BITS vec4 code words loaded at once (four 32-code
// blocks, so 2, 3 and 4 bits all load whole vec4s) and the 128/GROUP statistics of its groups. A workgroup owns
// ROWS = 256 / LANES rows; its LANES invocations per row take consecutive units, LANES units at a time (a
// chunk), so a row's codes are read as 16·BITS·LANES contiguous bytes. The chunk's X is staged in workgroup
// memory (one vec4 of padding per unit, so the 8 invocations of a 128-bit access phase hit distinct banks):
// read from global memory, each invocation's X lay 512 B from its neighbour's, one cache line per lane per
// load, and X alone took 13 of 23 µs at 4096² int4 on the H100 (bench/gemv-probe.ts).
// Per group, Σ (s·l + o)·x = s·Σ l·x + o·Σ x: one multiply-add per weight, the statistics once per group.
// Template: LANES ∈ {1, 2, 4, …, 32}, MR = M ∈ 1..8 (workgroup memory: 528·LANES·M + 1024·M bytes), and
// dequant.wgsl's BITS, GROUP, NF, DQ with CODES4 = 1.

struct Params { M: u32, N: u32, K: u32, accumulate: u32 } // M equals the template's MR

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;   // [M, K]
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;   // [M, N]
// The quantized weight's bindings (2, 4, 5, 6) are in shaders/dequant.wgsl, appended.

const LANES = {{LANES}}u;
const MMAX = {{MR}}u;
const ROWS = 256u / LANES;
const UNIT_GROUPS = 128u / GROUP;

const UNIT_X = 33u; // vec4s of X per unit in workgroup memory: 32 and one of padding
var<workgroup> xs: array<vec4<f32>, UNIT_X * LANES * MMAX>; // the chunk's X: xs[(m·LANES + unit)·UNIT_X + j]
var<workgroup> levels: array<f32, 16>;            // nf: the level table, read per code from workgroup memory

fn quadLevels(q: vec4<u32>) -> vec4<f32> {
//#if NF
  return vec4<f32>(levels[q.x], levels[q.y], levels[q.z], levels[q.w]);
//#else
  return vec4<f32>(q);
//#endif
}

// Each helper returns (Σ level·x, Σ x) over 32 codes (one block) against xs[xv…xv+7]. Straight-line
// code with constant shifts: no register arrays indexed in loops, which the driver may put in local memory.
fn sumX(a: vec4<f32>) -> f32 { return (a.x + a.y) + (a.z + a.w); }

// 4 bits: 8 codes per word, the block is one vec4 of words.
fn word4(w: u32, xv: u32) -> vec2<f32> {
  let a = xs[xv];
  let b = xs[xv + 1u];
  let lo = quadLevels((vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u));
  let hi = quadLevels((vec4<u32>(w) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u));
  return vec2<f32>(dot(lo, a) + dot(hi, b), sumX(a) + sumX(b));
}
fn block4(c: vec4<u32>, xv: u32) -> vec2<f32> {
  return (word4(c.x, xv) + word4(c.y, xv + 2u)) + (word4(c.z, xv + 4u) + word4(c.w, xv + 6u));
}

// 2 bits: 16 codes per word (and 3 bits' low two bits, `hi` holding their third bits from bit 0).
fn word2(w: u32, hi: u32, xv: u32) -> vec2<f32> {
  var r = vec2<f32>(0.0);
  for (var i = 0u; i < 4u; i++) { // constant trip count; indices below are not array indices
    let x = xs[xv + i];
    var q = (vec4<u32>(w >> (8u * i)) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
    if (BITS == 3u) { q |= ((vec4<u32>(hi >> (4u * i)) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(2u); }
    r += vec2<f32>(dot(quadLevels(q), x), sumX(x));
  }
  return r;
}
fn block2(w0: u32, w1: u32, xv: u32) -> vec2<f32> { return word2(w0, 0u, xv) + word2(w1, 0u, xv + 4u); }
fn block3(lo0: u32, lo1: u32, hi: u32, xv: u32) -> vec2<f32> { return word2(lo0, hi, xv) + word2(lo1, hi >> 16u, xv + 4u); }

// (s, o) of group g applied to a group's (Σ level·x, Σ x).
fn applyStats(g: u32, r: vec2<f32>) -> f32 {
  let so = groupStats(g);
  return so.x * r.x + so.y * r.y;
}

@compute @workgroup_size(256)
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
  let xRow = p.K / 4u; // vec4s per row of X
  var acc: array<f32, MMAX>;
  let chunks = (units + LANES - 1u) / LANES;
  for (var chunk = 0u; chunk < chunks; chunk++) {
    let u = chunk * LANES + lane;
    let inRow = u < units;
    // The unit's code words are requested first; staging X below overlaps their latency. (Requesting the next
    // chunk's codes and statistics before decoding this one's measured no faster on the H100.)
    let first = (row * units + min(u, units - 1u)) * BITS;
    let c0 = codes[first];
    let c1 = codes[first + 1u];
    var c2 = vec4<u32>(0u);
    var c3 = vec4<u32>(0u);
    if (BITS >= 3u) { c2 = codes[first + 2u]; }
    if (BITS == 4u) { c3 = codes[first + 3u]; }
    for (var i = lid; i < 32u * LANES * MMAX; i += 256u) {
      let m = i / (32u * LANES);
      let v = i % (32u * LANES);
      let col = chunk * 32u * LANES + v;
      xs[(m * LANES + v / 32u) * UNIT_X + v % 32u] = select(vec4<f32>(0.0), X[m * xRow + min(col, xRow - 1u)], col < xRow);
    }
    workgroupBarrier();
    if (inRow) {
      let g0 = row * (p.K / GROUP) + u * UNIT_GROUPS;
      for (var m = 0u; m < MMAX; m++) {
        let xv = (m * LANES + lane) * UNIT_X;
        var r0: vec2<f32>;
        var r1: vec2<f32>;
        var r2: vec2<f32>;
        var r3: vec2<f32>;
        if (BITS == 4u) {
          r0 = block4(c0, xv);
          r1 = block4(c1, xv + 8u);
          r2 = block4(c2, xv + 16u);
          r3 = block4(c3, xv + 24u);
        } else if (BITS == 2u) {
          r0 = block2(c0.x, c0.y, xv);
          r1 = block2(c0.z, c0.w, xv + 8u);
          r2 = block2(c1.x, c1.y, xv + 16u);
          r3 = block2(c1.z, c1.w, xv + 24u);
        } else {
          r0 = block3(c0.x, c0.y, c0.z, xv);
          r1 = block3(c0.w, c1.x, c1.y, xv + 8u);
          r2 = block3(c1.z, c1.w, c2.x, xv + 16u);
          r3 = block3(c2.y, c2.z, c2.w, xv + 24u);
        }
        if (GROUP == 32u) {
          acc[m] += (applyStats(g0, r0) + applyStats(g0 + 1u, r1)) + (applyStats(g0 + 2u, r2) + applyStats(g0 + 3u, r3));
        } else if (GROUP == 64u) {
          acc[m] += applyStats(g0, r0 + r1) + applyStats(g0 + 1u, r2 + r3);
        } else {
          acc[m] += applyStats(g0, (r0 + r1) + (r2 + r3));
        }
      }
    }
    workgroupBarrier(); // the next chunk overwrites xs
  }
  reduceAndStore(wg.x * ROWS, lid, acc);
}
