// Inverted dropout with a counter-based mask, so the backward regenerates the forward's mask from the seed
// instead of storing it: element i is kept when hash(seed, i) / 2³² ≥ p, and kept values are scaled by 1 / (1 − p).
//   forward:      out[i] = keep(i) · x[i] / (1 − p)
//   backward_add: dx[i] += keep(i) · g[i] / (1 − p)     (the gradient through the same mask, added into dx)
// One invocation per element; grids past 65535 workgroups fold into y.

struct Params { n: u32, seed: u32, p: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// PCG-style integer hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn kept(i: u32) -> f32 {
  let u = f32(pcg(pcg(i) ^ params.seed) >> 8u) * (1.0 / 16777216.0);
  return select(0.0, 1.0 / (1.0 - params.p), u >= params.p);
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= params.n) { return; }
  out[i] = x[i] * kept(i);
}

@compute @workgroup_size(256)
fn backward_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= params.n) { return; }
  out[i] += x[i] * kept(i);
}
