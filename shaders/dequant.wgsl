// Reading a quantized weight Ŵ [out, in] (layout: src/quant/format.ts) four codes at a time.
// Appended by the template step to every kernel that reads one; the kernel declares the bindings
// `codes: array<u32>`, `stats: array<vec2<f32>>` (s, o per group) and `levelTable: array<f32>`.
// Template: BITS ∈ {2, 3, 4}, GROUP ∈ {32, 64, 128}, NF ∈ {0, 1}.

const BITS = {{BITS}}u;
const GROUP = {{GROUP}}u;

fn level(q: u32) -> f32 {
//#if NF
  return levelTable[q];
//#else
  _ = levelTable[0]; // bound for both codebooks; only nf reads it
  return f32(q);
//#endif
}

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
  let so = stats[r * (inFeatures / GROUP) + c / GROUP];
  return so.x * vec4<f32>(level(q.x), level(q.y), level(q.z), level(q.w)) + so.y;
}
