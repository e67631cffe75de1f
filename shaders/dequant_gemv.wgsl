// Decode-time forward of a quantized linear layer: Y[m, n] = Σ_k X[m, k]·Ŵ[n, k] for M ≤ 8 rows of X.
// Its floor is reading the packed weight once (codes + stats).
// A 256-invocation workgroup = 8 warps of 32 lanes; warp w owns RPT consecutive output rows. Lane l takes
// columns 4l..4l+3 of every run of 128, so a warp reads 512 contiguous bytes of X and one contiguous run
// of code words per step (all coalesced); X is loaded once per step for all RPT rows. Partials go to
// workgroup memory and invocation t < 8·RPT·M sums the 32 lanes of output t.
// Ŵ is read through shaders/dequant.wgsl (appended).
// Template: RPT (rows per warp), MR = M ∈ 1..8, and dequant.wgsl's BITS, GROUP, NF.

struct Params { M: u32, N: u32, K: u32, accumulate: u32 } // M equals the template's MR

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;   // [M, K], K a multiple of 32
@group(0) @binding(2) var<storage, read> codes: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;   // [M, N]
@group(0) @binding(4) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> levelTable: array<f32>;

const RPT = {{RPT}}u;
const MMAX = {{MR}}u; // rows of X: a template value so every per-row array stays in registers
const ROWS = 8u * RPT;

var<workgroup> partial: array<f32, 256u * RPT * MMAX>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let warp = lid / 32u;
  let lane = lid % 32u;
  let row0 = wg.x * ROWS + warp * RPT;
  var acc: array<f32, RPT * MMAX>;

  for (var c = 4u * lane; c < p.K; c += 128u) {
    var xv: array<vec4<f32>, MMAX>;
    for (var m = 0u; m < MMAX; m++) { xv[m] = X[(m * p.K + c) / 4u]; }
    for (var r = 0u; r < RPT; r++) {
      let w = dequant4(min(row0 + r, p.N - 1u), c, p.K); // rows past N are computed, never stored
      for (var m = 0u; m < MMAX; m++) { acc[r * MMAX + m] += dot(w, xv[m]); }
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
