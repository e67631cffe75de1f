// Row-wise argmax: out[r] = the first index of the largest value of x[r, :] (torch.argmax's choice).
// x: [rows, cols] f32; out: [rows] u32. One 256-invocation workgroup per row: each invocation scans a strided
// slice keeping (value, index) of its first maximum, then a tree in workgroup memory keeps the larger value,
// and on a tie the smaller index.

struct Params { rows: u32, cols: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> bestValue: array<f32, 256>;
var<workgroup> bestIndex: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * groups.x + wg.x;
  if (row >= p.rows) { return; }
  var v = -3.4028234e38;
  var i = 0xFFFFFFFFu;
  for (var c = lid; c < p.cols; c += 256u) {
    let xc = x[row * p.cols + c];
    if (xc > v || i == 0xFFFFFFFFu) { v = xc; i = c; }
  }
  bestValue[lid] = v;
  bestIndex[lid] = i;
  workgroupBarrier();
  for (var width = 128u; width > 0u; width >>= 1u) {
    if (lid < width) {
      let ov = bestValue[lid + width];
      let oi = bestIndex[lid + width];
      if (ov > bestValue[lid] || (ov == bestValue[lid] && oi < bestIndex[lid])) {
        bestValue[lid] = ov;
        bestIndex[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = bestIndex[0]; }
}
