// QA-LoRA's group operations (docs/methods.md), one invocation per output element:
//   pool          xbar[n, g] = Σ_{i ∈ group g} x[n, i]                     x [N, in], xbar [N, in/G]
//   expand_add    dx[n, i] += t[n, ⌊i / G⌋]                                t [N, in/G]: the pooled input's gradient
//   merge_offsets stats[o, g, 1] += c[⌊o / R⌋, g]                          stats f32 [out, in/G, 2] of (s, o) pairs
// The last folds the adapter's constant per (row, group), c = s·B·A, into the quantized weight's offsets; R > 1 when
// the adapter's output is repeated R times (BLoRA), so c has out/R rows.

struct Params { rows: u32, inF: u32, groupSize: u32, R: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flat(wg: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * groups.x + wg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, groups, lid);
  let cols = p.inF / p.groupSize;
  if (i >= p.rows * cols) { return; }
  let base = (i / cols) * p.inF + (i % cols) * p.groupSize;
  var s = 0.0;
  for (var t = 0u; t < p.groupSize; t++) { s += src[base + t]; }
  dst[i] = s;
}

@compute @workgroup_size(256)
fn expand_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, groups, lid);
  if (i >= p.rows * p.inF) { return; }
  dst[i] += src[(i / p.inF) * (p.inF / p.groupSize) + (i % p.inF) / p.groupSize];
}

@compute @workgroup_size(256)
fn merge_offsets(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, groups, lid);
  let cols = p.inF / p.groupSize;
  if (i >= p.rows * cols) { return; }
  dst[2u * i + 1u] += src[(i / cols / p.R) * cols + i % cols];
}
