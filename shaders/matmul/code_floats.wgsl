// The codes of a packed word as floats, for the decode GEMVs (included with dequant.wgsl): int codes as
// 1 + q / 2^BITS, nf codes as their levels, read from a copy of the level table in workgroup memory (the
// kernel fills `levels`). applyStats turns a group's Σ float·x and Σ x into its share of an output.

var<workgroup> levels: array<f32, 16>;

// nf: the levels of four codes.
fn quadLevels(q: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(levels[q.x], levels[q.y], levels[q.z], levels[q.w]);
}

// int: no integer-to-float conversion (I2F, a quarter-rate instruction on NVIDIA). One shift and one AND-OR place
// two codes, 16 bits apart in their word, at the top of the mantissas of two packed f16 1.0s, and unpack2x16float
// widens both: each float is exactly 1 + q / 2^BITS, and applyStats folds the 1 back out per group with Σ x.
const F16_ONES = vec4<u32>(0x3C003C00u);

// The f16 pairs of t's four words, widened: the four low halves' floats, then the four high halves'.
fn widen(t: vec4<u32>) -> array<vec4<f32>, 2> {
  let h0 = unpack2x16float(t.x);
  let h1 = unpack2x16float(t.y);
  let h2 = unpack2x16float(t.z);
  let h3 = unpack2x16float(t.w);
  return array<vec4<f32>, 2>(vec4<f32>(h0.x, h1.x, h2.x, h3.x), vec4<f32>(h0.y, h1.y, h2.y, h3.y));
}

// 4 bits: a word's 8 codes, 0…3 then 4…7. int: codes k and k + 4 (bits 4k and 4k + 16) to f16 mantissa bits 6…9
// and 22…25.
fn wordFloats4(w: u32) -> array<vec4<f32>, 2> {
//#if NF
  return array<vec4<f32>, 2>(quadLevels((vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)),
                             quadLevels((vec4<u32>(w) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)));
//#else
  return widen((((vec4<u32>(w) << vec4<u32>(6u, 2u, 0u, 0u)) >> vec4<u32>(0u, 0u, 2u, 6u)) & vec4<u32>(0x03C003C0u)) | F16_ONES);
//#endif
}

// 2 bits: a word's 16 codes, four at a time; 3 bits: the same for their low two bits, with hi holding the 16 codes'
// third bits from bit 0.
//#if NF
fn quad2(w: u32, hi: u32, i: u32) -> vec4<f32> {
  var q = (vec4<u32>(w >> (8u * i)) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u);
  if (BITS == 3u) { q |= ((vec4<u32>(hi >> (4u * i)) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(2u); }
  return quadLevels(q);
}
fn wordFloats2(w: u32, hi: u32) -> array<vec4<f32>, 4> {
  return array<vec4<f32>, 4>(quad2(w, hi, 0u), quad2(w, hi, 1u), quad2(w, hi, 2u), quad2(w, hi, 3u));
}
//#else
// int: codes c and c + 8 (bits 2c and 2c + 16) as an f16 pair: their low two bits to mantissa bits LO and LO + 16 and
// up (2 bits: the top of the mantissa; 3 bits: below the third bit), 3 bits: their third bits (hi's bits c and
// c + 8, spread to c and c + 16 first) to 9 and 25. Codes 0…3 come from a, 4…7 from b, 8…15 from their high halves.
const LO = 10u - BITS;
fn wordFloats2(w: u32, hi: u32) -> array<vec4<f32>, 4> {
  var a = (vec4<u32>(w) << (vec4<u32>(LO) - vec4<u32>(0u, 2u, 4u, 6u))) & vec4<u32>(0x00030003u << LO);
  var b = (vec4<u32>(w) >> (vec4<u32>(8u - LO) + vec4<u32>(0u, 2u, 4u, 6u))) & vec4<u32>(0x00030003u << LO);
  if (BITS == 3u) {
    let hs = (hi & 0xFFu) | ((hi & 0xFF00u) << 8u);
    a |= (vec4<u32>(hs) << vec4<u32>(9u, 8u, 7u, 6u)) & vec4<u32>(0x02000200u);
    b |= (vec4<u32>(hs) << vec4<u32>(5u, 4u, 3u, 2u)) & vec4<u32>(0x02000200u);
  }
  let ha = widen(a | F16_ONES);
  let hb = widen(b | F16_ONES);
  return array<vec4<f32>, 4>(ha[0], hb[0], ha[1], hb[1]);
}
//#endif

// (s, o) of a group applied to its (Σ float·x, Σ x). int: r.x sums (1 + q / 2^BITS)·x, so
// s·Σ q·x = 2^BITS·s·(r.x − Σ x); both sums are of the same order (no cancellation to speak of), the error
// stays at a few f32 roundings.
fn applyStats(so: vec2<f32>, r: vec2<f32>) -> f32 {
//#if NF
  return so.x * r.x + so.y * r.y;
//#else
  let s = so.x * f32(1u << BITS);
  return s * r.x + (so.y - s) * r.y;
//#endif
}
