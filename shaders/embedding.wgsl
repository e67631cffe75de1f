// Embedding gather: out[t, c] = table[ids[t] − first, c] for t < tokens, c < hidden, where first ≤ ids[t] < end
// (a table split into row blocks: each block holds rows [first, first + vocab) and writes only its tokens).
// One invocation per output element; grids past 65535 workgroups fold into y.
// Ids were range-checked on the CPU; the last block (end = 2^32 − 1) reads an id past it as its last row rather than
// out of bounds.

struct Params { tokens: u32, hidden: u32, vocab: u32, first: u32, end: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.tokens * p.hidden) { return; }
  let id = ids[i / p.hidden];
  if (id < p.first || id >= p.end) { return; }
  let row = min(id - p.first, p.vocab - 1u);
  out[i] = table[row * p.hidden + i % p.hidden];
}
