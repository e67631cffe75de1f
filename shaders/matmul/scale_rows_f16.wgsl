// The f16 matrix path's activations, once per GEMM input (src/matmul/matrix-units.ts): each row of X [M, K] scaled
// by f16RowScale of its largest |x| and rounded to f16 into Y [M, K], the scale into scale[M]. One 256-invocation
// workgroup per row (rows beyond 65535 fold into wg.y).
enable f16;

struct Params { rows: u32, cols: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f16>;

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * groups.x + wg.x;
  var m = 0.0;
  if (row < p.rows) {
    for (var c = lid; c < p.cols; c += WG) { m = max(m, abs(x[row * p.cols + c])); }
  }
  let s = f16RowScale(workgroupMax(lid, m));
  if (row >= p.rows) { return; }
  for (var c = lid; c < p.cols; c += WG) { y[row * p.cols + c] = f16(x[row * p.cols + c] * s); }
  if (lid == 0u) { scale[row] = s; }
}
//#include "workgroup_reduce.wgsl"
//#include "f16_scale.wgsl"
