// SwiGLU gate of the LLaMA MLP: out = silu(gate) · up = gate / (1 + exp(−gate)) · up, elementwise.
// Backward, with σ = 1 / (1 + exp(−gate)): dgate = dout · up · σ · (1 + gate · (1 − σ)), dup = dout · gate · σ.
// One invocation per element; grids past 65535 workgroups fold into y.

struct Params { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// backward: dout at 3 (read), dgate at 4, dup at 5.
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  out[i] = g / (1.0 + exp(-g)) * up[i];
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  let s = 1.0 / (1.0 + exp(-g));
  let d = dout[i];
  dgate[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = d * g * s;
}
