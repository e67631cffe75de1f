// Reading a quantized weight Ŵ [out, in] (layout: src/quant/format.ts) four codes at a time.
// Appended by the template step to every kernel that reads one, with its bindings: codes at 2, the group
// statistics at 4, the level table at 5 and, with DQ, the statistics' block parameters at 6.
// Template: BITS ∈ {2, 3, 4}, GROUP ∈ {32, 64, 128}, NF ∈ {0, 1}, DQ ∈ {0, 1} (double-quantized stats),
// CODES4 ∈ {0, 1}: the codes as vec4 words (shaders/gemv_units.wgsl reads whole 128-weight units), and no dequant4.

const BITS = {{BITS}}u;
const GROUP = {{GROUP}}u;

//#if CODES4
@group(0) @binding(2) var<storage, read> codes: array<vec4<u32>>;
//#else
@group(0) @binding(2) var<storage, read> codes: array<u32>;
//#endif
@group(0) @binding(5) var<storage, read> levelTable: array<f32>;
//#if DQ
// Two groups per word: (s code, o code) as signed bytes, group g in bits 16·(g % 2)…; per 256 groups
// (s centre, s step, o centre, o step), so s = centre + step·code.
@group(0) @binding(4) var<storage, read> stats: array<u32>;
@group(0) @binding(6) var<storage, read> statBlocks: array<vec4<f32>>;

fn groupStats(g: u32) -> vec2<f32> {
  let w = stats[g / 2u] >> (16u * (g % 2u));
  let sCode = f32((i32(w) << 24u) >> 24u);
  let oCode = f32((i32(w) << 16u) >> 24u);
  let b = statBlocks[g / 256u];
  return vec2<f32>(b.x + b.y * sCode, b.z + b.w * oCode);
}
//#else
@group(0) @binding(4) var<storage, read> stats: array<vec2<f32>>; // (s, o) per group

fn groupStats(g: u32) -> vec2<f32> {
  return stats[g];
}
//#endif

fn level(q: u32) -> f32 {
//#if NF
  return levelTable[q];
//#else
  _ = levelTable[0]; // bound for both codebooks; only nf reads it
  return f32(q);
//#endif
}

//#if CODES4
//#else
// Ŵ[r, c..c+3] = s·level[q] + o, for c a multiple of 4 (the four codes share a word and a group).
fn dequant4(r: u32, c: u32, inFeatures: u32) -> vec4<f32> {
  let j = c % 32u;
  let word0 = (r * (inFeatures / 32u) + c / 32u) * BITS;
  var q: vec4<u32>;
  if (BITS == 4u) {
    let w = codes[word0 + j / 8u] >> (4u * (j % 8u));
    q = (vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
  } else if (BITS == 2u) {
    let w = codes[word0 + j / 16u] >> (2u * (j % 16u));
    q = (vec4<u32>(w) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
  } else {
    let lo = codes[word0 + j / 16u] >> (2u * (j % 16u));
    let hi = codes[word0 + 2u] >> j;
    q = ((vec4<u32>(lo) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u))
      | (((vec4<u32>(hi) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(2u));
  }
  let so = groupStats(r * (inFeatures / GROUP) + c / GROUP);
  return so.x * vec4<f32>(level(q.x), level(q.y), level(q.z), level(q.w)) + so.y;
}
//#endif
