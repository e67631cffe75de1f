// Rows of a quantized weight Ŵ [rows, cols] picked by ids, dequantized: out[t, c] = Ŵ[ids[t], c] — the token
// embedding when it is stored in the base's low-bit format (and, for a tied model, is the LM head too). Only the
// rows a batch uses are decoded. Four outputs per invocation (cols % 4 = 0, as the format's groups make it); grids
// past 65535 workgroups fold into y. A weight split into row blocks holds rows [first, first + rows) per block and
// each block writes only the tokens with first ≤ id < end. Ids were range-checked on the CPU; the last block
// (end = 2^32 − 1) still reads an id past it as its last row rather than out of bounds.
// Ŵ's bindings (2, 4, 5, 6) and reads are dequant.wgsl's, included (CODES4 = 0).

struct Params { tokens: u32, cols: u32, rows: u32, first: u32, end: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  let quads = p.cols / 4u;
  if (i >= p.tokens * quads) { return; }
  let id = ids[i / quads];
  if (id < p.first || id >= p.end) { return; }
  let row = min(id - p.first, p.rows - 1u);
  out[i] = dequant4(row, (i % quads) * 4u, p.cols);
}
//#include "dequant.wgsl"
