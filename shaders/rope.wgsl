// Rotary position embedding, HF "rotate half" form, in place on x: [tokens, heads, D].
// For i < D/2 with (c, s) = table[pos[t], i]:
//   x[i] ← x[i]·c − x[i + D/2]·s,   x[i + D/2] ← x[i + D/2]·c + x[i]·s.
// The backward is the inverse rotation (the transpose of an orthogonal map), applied in place to the gradient.
// table: [positions, D/2, 2] of (cos, sin), built on the CPU in float64 from the f32 angles (GPU sin/cos
// lose accuracy at the large angles of late positions). One invocation per (token, head, i).

struct Params { tokens: u32, heads: u32, half: u32, positions: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<vec2<f32>>;

fn rotate(wg: vec3<u32>, groups: vec3<u32>, lid: u32, direction: f32) {
  let n = (wg.y * groups.x + wg.x) * 256u + lid;
  if (n >= p.tokens * p.heads * p.half) { return; }
  let i = n % p.half;
  let th = n / p.half; // token · heads + head
  let t = th / p.heads;
  let cs = table[min(pos[t], p.positions - 1u) * p.half + i];
  let s = direction * cs.y;
  let base = th * 2u * p.half;
  let a = x[base + i];
  let b = x[base + i + p.half];
  x[base + i] = a * cs.x - b * s;
  x[base + i + p.half] = b * cs.x + a * s;
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  rotate(wg, groups, lid, 1.0);
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  rotate(wg, groups, lid, -1.0);
}
