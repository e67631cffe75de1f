// A block of columns between a narrow matrix and a wide one (row-major, same rows): `place` writes (or adds) src
// [rows, n] into columns [at, at + n) of dst [rows, width]; `take` copies those columns of src [rows, width] out
// into dst [rows, n]. A weight split into row blocks produces and consumes its outputs' column blocks this way.
// One invocation per element of the narrow matrix; grids past 65535 workgroups fold into y.

struct Params { rows: u32, n: u32, width: u32, at: u32, accumulate: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flatIndex(wg: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * groups.x + wg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn place(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wg, groups, lid);
  if (i >= p.rows * p.n) { return; }
  let o = (i / p.n) * p.width + p.at + i % p.n;
  if (p.accumulate != 0u) { dst[o] += src[i]; } else { dst[o] = src[i]; }
}

@compute @workgroup_size(256)
fn take(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wg, groups, lid);
  if (i >= p.rows * p.n) { return; }
  dst[i] = src[(i / p.n) * p.width + p.at + i % p.n];
}
