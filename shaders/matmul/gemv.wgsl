// Decode-time forward of a linear layer: Y[m, n] = Σ_k X[m, k]·W[n, k] for M ≤ 8 rows of X, with W
// quantized (read through shaders/matmul/dequant.wgsl, included) or, with DENSE, plain f32 [N, K].
// Its floor is reading the weight once (packed codes + stats, or the f32 matrix).
// A 256-invocation workgroup owns ROWS = 256 / LANES output rows; LANES invocations share a row and
// split its K: invocation l takes columns 4l..4l+3 of every run of 4·LANES, so neighbours read
// contiguous X and code words (coalesced) and many short, independent load chains are in flight
// (the GPU hides latency with parallelism, not with long loops). The LANES partials of each output are
// summed by shaders/matmul/gemv_store.wgsl (included).
// Template: LANES ∈ {1, 2, 4, …, 256} (32 by default), MR = M ∈ 1..8, DENSE, and (quantized)
// dequant.wgsl's BITS, GROUP_SIZE, NF. K is a multiple of 32 (quantized) or of 4 (dense).

// M equals the template's MR. part1, part2: where the 2nd and 3rd parts of a stacked weight start (N when
// it has fewer); Y holds each part's rows as its own [M, rows] block (gemv_store.wgsl). scale multiplies every
// output before it is stored (gemv_output.wgsl).
struct Params { M: u32, N: u32, K: u32, accumulate: u32, part1: u32, part2: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;   // [M, K]
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;   // [M, N]
//#if DENSE
@group(0) @binding(2) var<storage, read> W: array<vec4<f32>>;   // [N, K]
fn weight4(r: u32, c: u32, K: u32) -> vec4<f32> { return W[(r * K + c) / 4u]; }
//#else
// The quantized weight's bindings (2, 4, 5, 6) are in shaders/matmul/dequant.wgsl, included.
fn weight4(r: u32, c: u32, K: u32) -> vec4<f32> { return dequant4(r, c, K); }
//#endif

const LANES = {{LANES}}u;
const MMAX = {{MR}}u; // rows of X: a template value so every per-row array stays in registers
const WG = 256u;
const ROWS = WG / LANES;


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rowInGroup = lid / LANES;
  let lane = lid % LANES;
  let row = min(wg.x * ROWS + rowInGroup, p.N - 1u); // rows past N are computed, never stored
  var acc: array<f32, MMAX>;
  for (var c = 4u * lane; c < p.K; c += 4u * LANES) {
    let w = weight4(row, c, p.K);
    for (var m = 0u; m < MMAX; m++) { acc[m] += dot(w, X[(m * p.K + c) / 4u]); }
  }
  reduceAndStore(wg.x * ROWS, lid, acc);
}
//#include "gemv_store.wgsl"
//#if DENSE
//#else
//#include "dequant.wgsl"
//#endif
