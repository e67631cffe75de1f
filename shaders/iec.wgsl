// IR-QLoRA's elastic connection (IEC, docs/methods.md) around a LoRA adapter: parameter-free pooling and repetition
// between the rank-r space and the input/output spaces, each weighted by a learnable scalar β read from a parameter
// buffer. With C = chunk, the width of one chunk (in/r on the input side, out/r on the output side):
//   pool_add     dst[n, i] += scale·β·Σ_{t<C} src[n, i·C + t]        dst [N, r], src [N, r·C]
//   expand_add   dst[n, k] += scale·β·src[n, ⌊k / C⌋]                dst [N, r·C], src [N, r]
//   pooled_dot   out (+)= scale·Σ_{n,i} a[n, i]·Σ_{t<C} b[n, i·C + t]  a [N, r], b [N, r·C]: a β's gradient
// pool_add and expand_add: one invocation per element of dst. pooled_dot is Σ_k a[⌊k/C⌋]·b[k] over b's flat index k
// (element k of b lies in chunk ⌊k/C⌋ of a's flat index): dot_partial's workgroups stride over k, coalesced, each
// writing one partial sum; dot_final (one workgroup) adds them into out.

struct Params { rows: u32, r: u32, chunk: u32, accumulate: u32, scale: f32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
// dot_partial
@group(0) @binding(2) var<storage, read> b: array<f32>;

fn flat(wg: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * groups.x + wg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn pool_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, groups, lid);
  if (i >= p.rows * p.r) { return; }
  let base = (i / p.r) * p.r * p.chunk + (i % p.r) * p.chunk;
  var s = 0.0;
  for (var t = 0u; t < p.chunk; t++) { s += src[base + t]; }
  dst[i] += p.scale * beta[0] * s;
}

@compute @workgroup_size(256)
fn expand_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let k = flat(wg, groups, lid);
  let width = p.r * p.chunk;
  if (k >= p.rows * width) { return; }
  dst[k] += p.scale * beta[0] * src[(k / width) * p.r + (k % width) / p.chunk];
}

// dot_partial / dot_final
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> parts: array<f32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;

@compute @workgroup_size(256)
fn dot_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let n = p.rows * p.r * p.chunk;
  var s = 0.0;
  for (var k = wg.x * 256u + lid; k < n; k += groups.x * 256u) { s += src[k / p.chunk] * b[k]; }
  let sum = workgroupSum(lid, s);
  if (lid == 0u) { partials[wg.x] = sum; }
}

@compute @workgroup_size(256)
fn dot_final(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.rows; i += 256u) { s += parts[i]; }
  let sum = workgroupSum(lid, s) * p.scale;
  if (lid == 0u) { total[0] = select(sum, total[0] + sum, p.accumulate != 0u); }
}
//#include "workgroup_reduce.wgsl"
