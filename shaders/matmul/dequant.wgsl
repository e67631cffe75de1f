// Reading a quantized weight Ŵ [out, in] (layout: src/quant/format.ts) four codes at a time.
// Appended by the template step to every kernel that reads one, with its bindings: codes at 2, the group
// statistics at 4, the level table at 5 and, with DQ, the statistics' block parameters at 6.
// Template: BITS ∈ {2, 3, 4}, GROUP_SIZE ∈ {32, 64, 128}, NF ∈ {0, 1}, DQ ∈ {0, 1} (double-quantized stats),
// CODES4 ∈ {0, 1}: the codes bound as vec4 words (gemv_units.wgsl reads whole 128-weight units at every width;
// fetchBlock reads 2- and 4-bit blocks that way and needs CODES4 = 0 for 3 bits), and then no fetchQuant4 or dequant4.

const BITS = {{BITS}}u;
const GROUP_SIZE = {{GROUP_SIZE}}u;

//#if CODES4
@group(0) @binding(2) var<storage, read> codes: array<vec4<u32>>;
//#else
@group(0) @binding(2) var<storage, read> codes: array<u32>;
//#endif
@group(0) @binding(5) var<storage, read> levelTable: array<f32>;
// A group's (s, o) as loaded (fetchStats) and as numbers (decodeStats): the GEMM keeps the loaded form in registers
// through a tile's multiply-adds and decodes it after, like the codes (fetchQuant4 below).
//#if DQ
// Two groups per word: (s code, o code) as signed bytes, group g in bits 16·(g % 2)…; per 256 groups
// (s centre, s step, o centre, o step), so s = centre + step·code.
@group(0) @binding(4) var<storage, read> stats: array<u32>;
@group(0) @binding(6) var<storage, read> statBlocks: array<vec4<f32>>;

struct StatsFetch { word: u32, shift: u32, block: vec4<f32> }

fn fetchStats(g: u32) -> StatsFetch {
  return StatsFetch(stats[g / 2u], 16u * (g % 2u), statBlocks[g / 256u]);
}

fn decodeStats(f: StatsFetch) -> vec2<f32> {
  let w = f.word >> f.shift;
  let sCode = f32((i32(w) << 24u) >> 24u);
  let oCode = f32((i32(w) << 16u) >> 24u);
  return vec2<f32>(f.block.x + f.block.y * sCode, f.block.z + f.block.w * oCode);
}
//#else
@group(0) @binding(4) var<storage, read> stats: array<vec2<f32>>; // (s, o) per group

alias StatsFetch = vec2<f32>;
fn fetchStats(g: u32) -> StatsFetch { return stats[g]; }
fn decodeStats(f: StatsFetch) -> vec2<f32> { return f; }
//#endif

fn groupStats(g: u32) -> vec2<f32> {
  return decodeStats(fetchStats(g));
}

fn level(q: u32) -> f32 {
//#if NF
  return levelTable[q];
//#else
  _ = levelTable[0]; // bound for both codebooks; only nf reads it
  return f32(q);
//#endif
}

// What Ŵ[r, c..c+3] is made of, for c a multiple of 4 (the four codes share a word and a group), as loaded: the
// word holding the codes (3 bits: the low-bits word and the third-bits word), the group's (s, o) and where the
// codes start in their 32-code block. Nothing here uses a loaded value, so the GEMM can keep them in registers
// through a tile's multiply-adds and decode them after without first waiting on the loads (the backward shifted
// the words, or dequantized, at fetch time: M = 2048 0.87 → 0.90 of f32 on the H100 without, M = 512 0.72 → 0.89;
// bench/gemm-probe.ts, BENCHMARKS.md). All zero decodes to zeros.
struct QuantFetch { words: vec2<u32>, stats: StatsFetch, j: u32 }

// fetchQuant4's result with the codes shifted down to bit 0 of their words (3 bits: the low two bits in x, the
// third bits in y) and j = 0: the forward GEMM does this at fetch time, which measured faster there.
fn alignQuant4(f: QuantFetch) -> QuantFetch {
  var words: vec2<u32>;
  if (BITS == 4u) {
    words = vec2<u32>(f.words.x >> (4u * (f.j % 8u)), 0u);
  } else if (BITS == 2u) {
    words = vec2<u32>(f.words.x >> (2u * (f.j % 16u)), 0u);
  } else {
    words = vec2<u32>(f.words.x >> (2u * (f.j % 16u)), f.words.y >> f.j);
  }
  return QuantFetch(words, f.stats, 0u);
}

// Ŵ[r, c..c+3] = s·level[q] + o from fetchQuant4's (or alignQuant4's) result (all zero gives zeros).
fn decodeQuant4(f: QuantFetch) -> vec4<f32> {
  return decodeCodes4(f, decodeStats(f.stats));
}

// The same with the group's (s, o) given (its f.stats unused): the GEMM with SHAREDSTATS takes them from
// workgroup memory.
fn decodeCodes4(f: QuantFetch, so: vec2<f32>) -> vec4<f32> {
  let w = alignQuant4(f).words;
  var q: vec4<u32>;
  if (BITS == 4u) {
    q = (vec4<u32>(w.x) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
  } else if (BITS == 2u) {
    q = (vec4<u32>(w.x) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
  } else {
    q = ((vec4<u32>(w.x) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u))
      | (((vec4<u32>(w.y) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(2u));
  }
  return so.x * vec4<f32>(level(q.x), level(q.y), level(q.z), level(q.w)) + so.y;
}

// A 32-code block as loaded: its BITS words (zeros past BITS) and its group's statistics. Block i is the i-th of the
// whole weight (row r's block b is r · in / 32 + b).
struct Slice { c: vec4<u32>, st: StatsFetch }

fn fetchBlock(i: u32) -> Slice {
  var c: vec4<u32>;
//#if CODES4
  if (BITS == 4u) {
    c = codes[i];
  } else { // 2 bits: two words per block, two blocks per vec4
    let v = codes[i / 2u];
    c = vec4<u32>(select(v.xy, v.zw, (i & 1u) == 1u), 0u, 0u);
  }
//#else
  c = vec4<u32>(codes[3u * i], codes[3u * i + 1u], codes[3u * i + 2u], 0u);
//#endif
  return Slice(c, fetchStats(i * 32u / GROUP_SIZE));
}

// Codes j…j + 3 of a block (j a multiple of 4) in fetchQuant4's form, for decodeQuant4.
fn blockQuant4(b: Slice, j: u32) -> QuantFetch {
  let perWord = select(16u, 8u, BITS == 4u); // codes per word (3 bits: per low-bits word)
  return QuantFetch(vec2<u32>(b.c[j / perWord], b.c.z), b.st, j);
}

//#if CODES4
//#else
fn fetchQuant4(r: u32, c: u32, inFeatures: u32) -> QuantFetch {
  var f = fetchCodes4(r, c, inFeatures);
  f.stats = fetchStats(r * (inFeatures / GROUP_SIZE) + c / GROUP_SIZE);
  return f;
}

// fetchQuant4 without the statistics (left zero), for decodeCodes4.
fn fetchCodes4(r: u32, c: u32, inFeatures: u32) -> QuantFetch {
  let j = c % 32u;
  let word0 = (r * (inFeatures / 32u) + c / 32u) * BITS;
  var words: vec2<u32>;
  if (BITS == 4u) {
    words = vec2<u32>(codes[word0 + j / 8u], 0u);
  } else if (BITS == 2u) {
    words = vec2<u32>(codes[word0 + j / 16u], 0u);
  } else {
    words = vec2<u32>(codes[word0 + j / 16u], codes[word0 + 2u]);
  }
  return QuantFetch(words, StatsFetch(), j);
}

fn dequant4(r: u32, c: u32, inFeatures: u32) -> vec4<f32> {
  return decodeQuant4(fetchQuant4(r, c, inFeatures));
}
//#endif
