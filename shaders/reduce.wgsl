// Row-wise reductions of a row-major [rows, cols] f32 matrix into out[rows]: sum, max, and the power of two that
// brings a row's largest |x| into f16's range (row_f16_scale).
// One 256-invocation workgroup per row (rows beyond 65535 fold into wg.y). Each invocation folds a
// strided slice of the row (coalesced reads), then shaders/workgroup_reduce.wgsl (included) combines the
// 256 partial results.

struct Params { rows: u32, cols: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG = 256u;

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
  let total = workgroupSum(lid, s);
  if (lid == 0u && row < p.rows) { out[row] = total; }
}

@compute @workgroup_size(256)
fn row_max(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg, groups);
  var m = -3.4028234e38;
  if (row < p.rows) {
    for (var c = lid; c < p.cols; c += WG) { m = max(m, x[row * p.cols + c]); }
  }
  let total = workgroupMax(lid, m);
  if (lid == 0u && row < p.rows) { out[row] = total; }
}

// out[r] = f16RowScale(max_c |x[r, c]|) (f16_scale.wgsl): the power of two that brings the row into f16's range.
@compute @workgroup_size(256)
fn row_f16_scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg, groups);
  var m = 0.0;
  if (row < p.rows) {
    for (var c = lid; c < p.cols; c += WG) { m = max(m, abs(x[row * p.cols + c])); }
  }
  let total = workgroupMax(lid, m);
  if (lid == 0u && row < p.rows) { out[row] = f16RowScale(total); }
}
//#include "workgroup_reduce.wgsl"
//#include "f16_scale.wgsl"
