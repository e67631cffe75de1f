// Row-wise reductions of a row-major [rows, cols] f32 matrix into out[rows]: sum and max.
// One 256-invocation workgroup per row (rows beyond 65535 fold into wg.y). Each invocation folds a
// strided slice of the row (coalesced reads), then a tree in workgroup memory combines the 256 partials.

struct Params { rows: u32, cols: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG = 256u;
var<workgroup> partial: array<f32, WG>;

fn rowOf(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
  return wg.y * groups.x + wg.x;
}

@compute @workgroup_size(256)
fn row_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg, groups);
  var s = 0.0;
  if (row < p.rows) {
    for (var c = lid; c < p.cols; c += WG) { s += x[row * p.cols + c]; }
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    if (lid < width) { partial[lid] += partial[lid + width]; }
    workgroupBarrier();
  }
  if (lid == 0u && row < p.rows) { out[row] = partial[0]; }
}

@compute @workgroup_size(256)
fn row_max(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg, groups);
  var m = -3.4028234e38;
  if (row < p.rows) {
    for (var c = lid; c < p.cols; c += WG) { m = max(m, x[row * p.cols + c]); }
  }
  partial[lid] = m;
  workgroupBarrier();
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    if (lid < width) { partial[lid] = max(partial[lid], partial[lid + width]); }
    workgroupBarrier();
  }
  if (lid == 0u && row < p.rows) { out[row] = partial[0]; }
}
