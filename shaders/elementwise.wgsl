// Elementwise f32 ops over n elements: out = a + b, out = a · b, out = alpha · a, and a vec4 copy.
// One invocation per element (per vec4 for copy4). Grids larger than 65535 workgroups fold into y:
// the flat index is (wg.y · num_workgroups.x + wg.x) · 256 + lid.

struct Params { n: u32, alpha: f32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// scale reads only `a`; its output sits at binding 2.
@group(0) @binding(2) var<storage, read_write> scaled: array<f32>;

@group(0) @binding(1) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst4: array<vec4<f32>>;

fn flatIndex(wg: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * groups.x + wg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wg, groups, lid);
  if (i < p.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wg, groups, lid);
  if (i < p.n) { out[i] = a[i] * b[i]; }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wg, groups, lid);
  if (i < p.n) { scaled[i] = p.alpha * a[i]; }
}

// p.n counts vec4s here. Each invocation moves COPY_PER_THREAD vec4s, 256 apart, so a workgroup
// covers one contiguous run and every load instruction stays coalesced.
const COPY_PER_THREAD = 4u;
@compute @workgroup_size(256)
fn copy4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let base = (wg.y * groups.x + wg.x) * 256u * COPY_PER_THREAD + lid;
  for (var j = 0u; j < COPY_PER_THREAD; j++) {
    let i = base + j * 256u;
    if (i < p.n) { dst4[i] = src4[i]; }
  }
}
