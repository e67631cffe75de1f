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
// What Ŵ[r, c..c+3] is made of, for c a multiple of 4 (the four codes share a word and a group): the code
// bits shifted down to bit 0 (3 bits: the low two bits in x, the third bits in y) and the group's (s, o) as
// bits in z, w. The GEMM loads these for the next tile before it multiplies the current one and decodes
// them only after, so no load's latency sits between a fetch and the multiply-adds.
fn fetchQuant4(r: u32, c: u32, inFeatures: u32) -> vec4<u32> {
  let j = c % 32u;
  let word0 = (r * (inFeatures / 32u) + c / 32u) * BITS;
  var bits: vec2<u32>;
  if (BITS == 4u) {
    bits = vec2<u32>(codes[word0 + j / 8u] >> (4u * (j % 8u)), 0u);
  } else if (BITS == 2u) {
    bits = vec2<u32>(codes[word0 + j / 16u] >> (2u * (j % 16u)), 0u);
  } else {
    bits = vec2<u32>(codes[word0 + j / 16u] >> (2u * (j % 16u)), codes[word0 + 2u] >> j);
  }
  let so = groupStats(r * (inFeatures / GROUP) + c / GROUP);
  return vec4<u32>(bits, bitcast<vec2<u32>>(so));
}

// Ŵ[r, c..c+3] = s·level[q] + o from fetchQuant4's result (all zero gives zeros).
fn decodeQuant4(v: vec4<u32>) -> vec4<f32> {
  var q: vec4<u32>;
  if (BITS == 4u) {
    q = (vec4<u32>(v.x) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
  } else if (BITS == 2u) {
    q = (vec4<u32>(v.x) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
  } else {
    q = ((vec4<u32>(v.x) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u))
      | (((vec4<u32>(v.y) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(2u));
  }
  let so = bitcast<vec2<f32>>(v.zw);
  return so.x * vec4<f32>(level(q.x), level(q.y), level(q.z), level(q.w)) + so.y;
}

fn dequant4(r: u32, c: u32, inFeatures: u32) -> vec4<f32> {
  return decodeQuant4(fetchQuant4(r, c, inFeatures));
}
//#endif
