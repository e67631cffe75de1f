// Decode-time forward of a quantized linear layer: Y[m, n] = Σ_k X[m, k]·Ŵ[n, k] for M ≤ 8 rows of X,
// bound by reading the packed weight once. Ŵ's layout: src/quant/format.ts (blocks of 32 codes in BITS
// words; (s, o) per group of GROUP codes).
// A 256-invocation workgroup = 8 warps of 32 lanes; warp w owns RPT consecutive output rows. Lane l walks
// the blocks l, l+32, ... of its rows, 8 codes at a time, and accumulates s·Σ level[q]·x + o·Σ x (one
// (s, o) per block, since GROUP ≥ 32); X is re-read per row from L1.
// Partials go to workgroup memory and invocation t < 8·RPT·M sums the 32 lanes of output t.
// Template: BITS ∈ {2, 3, 4}, GROUP ∈ {32, 64, 128}, NF ∈ {0, 1}, RPT (rows per warp), MR = M ∈ 1..8,
//   VEC_CODES = 1 (4-bit only) loads a block's 4 words as one vec4.

struct Params { M: u32, N: u32, K: u32, accumulate: u32 } // M equals the template's MR

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;   // [M, K], K a multiple of 32
//#if VEC_CODES
@group(0) @binding(2) var<storage, read> codes: array<vec4<u32>>; // 4-bit: one block per vec4
//#else
@group(0) @binding(2) var<storage, read> codes: array<u32>;
//#endif
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;   // [M, N]
@group(0) @binding(4) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> levelTable: array<f32>;

const BITS = {{BITS}}u;
const GROUP = {{GROUP}}u;
const RPT = {{RPT}}u;
const MMAX = {{MR}}u; // rows of X: a template value so every per-row array stays in registers
const ROWS = 8u * RPT;

var<workgroup> partial: array<f32, 256u * RPT * MMAX>;

fn level(q: u32) -> f32 {
//#if NF
  return levelTable[q];
//#else
  _ = levelTable[0];
  return f32(q);
//#endif
}

// Levels of codes 8k..8k+7 of block b of row r, as two vec4s (word loads repeat for 2- and 3-bit
// and hit L1). Nothing here is an array, so everything stays in registers.
struct Eight { lo: vec4<f32>, hi: vec4<f32> }

fn levels8(word0: u32, k: u32) -> Eight {
  var q: vec4<u32>;
  var e: Eight;
  let nib = vec4<u32>(0u, 4u, 8u, 12u);
  let two = vec4<u32>(0u, 2u, 4u, 6u);
  let one = vec4<u32>(0u, 1u, 2u, 3u);
//#if VEC_CODES
  let w = codes[word0 / 4u][k];
  let a = (vec4<u32>(w) >> nib) & vec4<u32>(15u);
  let b = (vec4<u32>(w >> 16u) >> nib) & vec4<u32>(15u);
//#else
  var a: vec4<u32>;
  var b: vec4<u32>;
  if (BITS == 4u) {
    let w = codes[word0 + k];
    a = (vec4<u32>(w) >> nib) & vec4<u32>(15u);
    b = (vec4<u32>(w >> 16u) >> nib) & vec4<u32>(15u);
  } else {
    let w = codes[word0 + k / 2u] >> (16u * (k % 2u));
    a = (vec4<u32>(w) >> two) & vec4<u32>(3u);
    b = (vec4<u32>(w >> 8u) >> two) & vec4<u32>(3u);
    if (BITS == 3u) {
      let h = codes[word0 + 2u] >> (8u * k);
      a |= ((vec4<u32>(h) >> one) & vec4<u32>(1u)) << vec4<u32>(2u);
      b |= ((vec4<u32>(h >> 4u) >> one) & vec4<u32>(1u)) << vec4<u32>(2u);
    }
  }
//#endif
//#if NF
  e.lo = vec4<f32>(levelTable[a.x], levelTable[a.y], levelTable[a.z], levelTable[a.w]);
  e.hi = vec4<f32>(levelTable[b.x], levelTable[b.y], levelTable[b.z], levelTable[b.w]);
//#else
  _ = levelTable[0];
  e.lo = vec4<f32>(a);
  e.hi = vec4<f32>(b);
//#endif
  return e;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let warp = lid / 32u;
  let lane = lid % 32u;
  let row0 = wg.x * ROWS + warp * RPT;
  let blocks = p.K / 32u;
  var acc: array<f32, RPT * MMAX>;

  for (var b = lane; b < blocks; b += 32u) {
    for (var r = 0u; r < RPT; r++) {
      let row = min(row0 + r, p.N - 1u); // rows past N compute a duplicate that is never stored
      let word0 = (row * blocks + b) * BITS;
      let so = stats[row * (p.K / GROUP) + (32u * b) / GROUP];
      for (var k = 0u; k < 4u; k++) {
        let lv = levels8(word0, k);
        for (var m = 0u; m < MMAX; m++) {
          let x0 = X[(m * p.K + 32u * b) / 4u + 2u * k];
          let x1 = X[(m * p.K + 32u * b) / 4u + 2u * k + 1u];
          let d = dot(lv.lo, x0) + dot(lv.hi, x1);
          let sx = dot(x0 + x1, vec4<f32>(1.0));
          acc[r * MMAX + m] += so.x * d + so.y * sx;
        }
      }
    }
  }
  // partial[(warp·RPT + r)·MMAX + m][lane]
  for (var r = 0u; r < RPT; r++) {
    for (var m = 0u; m < MMAX; m++) { partial[((warp * RPT + r) * MMAX + m) * 32u + lane] = acc[r * MMAX + m]; }
  }
  workgroupBarrier();
  let outputs = ROWS * MMAX;
  for (var t = lid; t < outputs; t += 256u) {
    let rowInGroup = t / MMAX;
    let m = t % MMAX;
    let row = wg.x * ROWS + rowInGroup;
    if (row < p.N) {
      var s = 0.0;
      for (var l = 0u; l < 32u; l++) { s += partial[t * 32u + l]; }
      let idx = m * p.N + row;
      if (p.accumulate != 0u) { s += Y[idx]; }
      Y[idx] = s;
    }
  }
}
