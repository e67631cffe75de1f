// Decode-time forward of a quantized linear layer: Y[m, n] = Σ_k X[m, k]·Ŵ[n, k] for M ≤ 8 rows of X,
// bound by reading the packed weight once. Ŵ's layout: src/quant/format.ts (blocks of 32 codes in BITS
// words; (s, o) per group of GROUP codes).
// A 256-invocation workgroup = 8 warps of 32 lanes; warp w owns RPT consecutive output rows. Lane l walks
// the blocks l, l+32, ... of its rows: it reads the block's X values once for all RPT rows, decodes
// each row's 32 codes, and accumulates s·Σ level[q]·x + o·Σ x (one (s, o) per block, since GROUP ≥ 32).
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

// The 32 codes of block b of row r, as 4 words of 8 nibbles each (any BITS is widened to this form).
fn blockCodes(r: u32, b: u32) -> array<u32, 32> {
  var q: array<u32, 32>;
  let word0 = (r * (p.K / 32u) + b) * BITS;
//#if VEC_CODES
  let w = codes[word0 / 4u];
  for (var j = 0u; j < 8u; j++) {
    q[j] = (w.x >> (4u * j)) & 15u;
    q[8u + j] = (w.y >> (4u * j)) & 15u;
    q[16u + j] = (w.z >> (4u * j)) & 15u;
    q[24u + j] = (w.w >> (4u * j)) & 15u;
  }
//#else
  if (BITS == 4u) {
    for (var k = 0u; k < 4u; k++) {
      let w = codes[word0 + k];
      for (var j = 0u; j < 8u; j++) { q[8u * k + j] = (w >> (4u * j)) & 15u; }
    }
  } else {
    let lo0 = codes[word0];
    let lo1 = codes[word0 + 1u];
    var hi = 0u;
    if (BITS == 3u) { hi = codes[word0 + 2u]; }
    for (var j = 0u; j < 16u; j++) {
      q[j] = ((lo0 >> (2u * j)) & 3u) | (((hi >> j) & 1u) << 2u);
      q[16u + j] = ((lo1 >> (2u * j)) & 3u) | (((hi >> (16u + j)) & 1u) << 2u);
    }
  }
//#endif
  return q;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let warp = lid / 32u;
  let lane = lid % 32u;
  let row0 = wg.x * ROWS + warp * RPT;
  let blocks = p.K / 32u;
  var acc: array<f32, RPT * MMAX>;

  for (var b = lane; b < blocks; b += 32u) {
    // X[m, 32b .. 32b+31] for every m: its level-weighted sums need the codes, its plain sum does not.
    var xs: array<vec4<f32>, 8u * MMAX>;
    var xsum: array<f32, MMAX>;
    for (var m = 0u; m < MMAX; m++) {
      var s = vec4<f32>(0.0);
      for (var i = 0u; i < 8u; i++) {
        let v = X[(m * p.K + 32u * b) / 4u + i];
        xs[8u * m + i] = v;
        s += v;
      }
      xsum[m] = s.x + s.y + s.z + s.w;
    }
    for (var r = 0u; r < RPT; r++) {
      let row = row0 + r;
      if (row >= p.N) { break; }
      let q = blockCodes(row, b);
      var lv: array<vec4<f32>, 8>;
      for (var i = 0u; i < 8u; i++) {
        lv[i] = vec4<f32>(level(q[4u * i]), level(q[4u * i + 1u]), level(q[4u * i + 2u]), level(q[4u * i + 3u]));
      }
      let so = stats[row * (p.K / GROUP) + (32u * b) / GROUP];
      for (var m = 0u; m < MMAX; m++) {
        var d = vec4<f32>(0.0);
        for (var i = 0u; i < 8u; i++) { d = fma(lv[i], xs[8u * m + i], d); }
        acc[r * MMAX + m] += so.x * (d.x + d.y + d.z + d.w) + so.y * xsum[m];
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
