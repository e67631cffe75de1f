// Groupwise quantization of an f32 weight W [out, in] into packed codes and per-group (s, o) stats,
// with optional ICQ (IR-QLoRA) calibration. Layout of codes and stats: src/quant/format.ts.
// One 128-invocation workgroup per group (G ≤ 128; groups beyond 65535 fold into wg.y):
//   1. the group's G weights go to workgroup memory; a non-finite weight records its group in `bad`;
//      invocation i counts the weights below w_i (ties by index) and puts w_i at that rank: the group
//      sorted ascending;
//   2. from the sorted weights: nf + ICQ: τ0 = lower median and m = max|w − τ0| (at one end);
//      int: xmin = min(w, 0), xmax = max(w, 0);
//   3. with several candidates (ICQ), invocation c < p.candidates scores candidate c: its thresholds
//      t_0 ≤ … ≤ t_{L−2}, the count of each code from where each threshold falls in the sorted weights
//      (a binary search: w − τ is monotonic in w, so the codes are too), and S = Σ T[count] (fixed-point
//      Σ n·log2 n; smaller S = larger entropy); a tree picks the first candidate with the smallest S;
//   4. invocation j codes weight j with the chosen candidate;
//   5. invocations < G·BITS/32 assemble one packed word each; invocation 0 writes (s, o).
// Every decision uses only f32 products, differences and comparisons (no division, no fused
// multiply-add) so test/ref/quantize.ts reproduces the codes exactly. (Coding all G weights per candidate
// into a histogram in a register array instead, ICQ took 5.9 ms for a 4096² nf4 G64 weight on the H100 against
// 2.5 ms this way: BENCHMARKS.md.)
// Template: BITS ∈ {2, 3, 4}, G ∈ {32, 64, 128}, NF ∈ {0, 1}.

struct Params {
  rows: u32, inFeatures: u32, groups: u32, candidates: u32,
  useMedian: u32, invLevels: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> factors: array<f32>;     // τ factors f (nf) or range factors p (int)
@group(0) @binding(3) var<storage, read> mids: array<f32>;        // nf level midpoints (unused for int)
@group(0) @binding(4) var<storage, read> costTable: array<u32>;   // T[n] = round(2^16·n·log2 n), n = 0..G
@group(0) @binding(5) var<storage, read_write> codesOut: array<u32>;
@group(0) @binding(6) var<storage, read_write> statsOut: array<f32>;
@group(0) @binding(7) var<storage, read_write> bad: array<atomic<u32>>; // [0]: smallest group with a non-finite weight

const BITS = {{BITS}}u;
const G = {{G}}u;
const LEVELS = 1u << BITS;
const WG = 128u;

var<workgroup> ws: array<f32, G>;     // the group's weights in order
var<workgroup> sorted: array<f32, G>; // ascending, ties in index order
var<workgroup> cost: array<u32, WG>;
var<workgroup> who: array<u32, WG>;
var<workgroup> products: array<f32, WG>;
var<workgroup> codes: array<u32, G>;
var<workgroup> nonFinite: atomic<u32>;

fn isFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// A candidate's stats (s, o), the shift its codes are taken after (τ for nf, 0 for int) and, for int, the
// code of zero. Its thresholds come from threshold(), one at a time (no register array).
struct Candidate { shift: f32, s: f32, o: f32, zero: u32 }

// max_j |w_j − τ|: w − τ is monotonic in w, so the largest magnitude is at one end of the sorted group.
fn farthest(tau: f32) -> f32 {
  return max(abs(sorted[0] - tau), abs(sorted[G - 1u] - tau));
}

// Candidate c; `lo`, `hi` are xmin, xmax (int) or τ0, m (nf).
fn candidate(c: u32, lo: f32, hi: f32) -> Candidate {
  var k: Candidate;
//#if NF
  let tau = lo + products[c]; // products[c] = f·m, computed before a barrier so it is never fused
  let a = farthest(tau);
  k.shift = tau;
  k.s = a;
  k.o = tau;
//#else
  let factor = factors[c];
  let scale = (factor * (hi - lo)) * p.invLevels;
  let negMin = factor * -lo;
  var zero = 0u;
  for (var j = 0u; j < LEVELS - 1u; j++) { zero += select(0u, 1u, negMin > scale * (f32(j) + 0.5)); }
  k.shift = 0.0;
  k.s = scale;
  k.o = scale * -f32(zero);
  k.zero = zero;
//#endif
  return k;
}

// Threshold i of candidate k (ascending in i): nf a·mid_i, int scale·(i + ½ − zero).
fn threshold(k: Candidate, i: u32) -> f32 {
//#if NF
  return k.s * mids[i];
//#else
  _ = mids[0]; // bound for both codebooks; only nf reads it
  return k.s * (f32(i) + 0.5 - f32(k.zero));
//#endif
}

// #{j : sorted[j] − shift ≤ t} for four thresholds t at once (four independent searches in flight): the
// weights whose codes lie below each. A binary search, as sorted[j] − shift > t is false for j below that
// count and true from it on. G is a power of two.
fn countNotAbove(shift: f32, t: vec4<f32>) -> vec4<u32> {
  var n = vec4<u32>(0u);
  for (var step = G / 2u; step > 0u; step /= 2u) {
    let m = n + (step - 1u);
    let x = vec4<f32>(sorted[m.x], sorted[m.y], sorted[m.z], sorted[m.w]) - shift;
    n += select(vec4<u32>(step), vec4<u32>(0u), x > t);
  }
  let x = vec4<f32>(sorted[n.x], sorted[n.y], sorted[n.z], sorted[n.w]) - shift;
  return n + select(vec4<u32>(1u), vec4<u32>(0u), x > t);
}

// S = Σ_q T[#weights with code q] of candidate k: code q holds the weights above threshold q − 1 and not
// above threshold q; the last code's "threshold" is the largest finite f32 (all G weights lie below it).
fn candidateCost(k: Candidate) -> u32 {
  let top = bitcast<f32>(0x7f7fffffu);
  var below = 0u;
  var score = 0u;
  for (var i = 0u; i < LEVELS; i += 4u) {
    let t = vec4<f32>(threshold(k, i), threshold(k, i + 1u), threshold(k, i + 2u), select(threshold(k, min(i + 3u, LEVELS - 2u)), top, i + 4u == LEVELS));
    let n = countNotAbove(k.shift, t);
    score += (costTable[n.x - below] + costTable[n.y - n.x]) + (costTable[n.z - n.y] + costTable[n.w - n.z]);
    below = n.w;
  }
  return score;
}

fn codeOf(w: f32, k: Candidate) -> u32 {
  let x = w - k.shift;
  var q = 0u;
  for (var i = 0u; i < LEVELS - 1u; i++) { q += select(0u, 1u, x > threshold(k, i)); }
  return q;
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wg.y * grid.x + wg.x;
  if (g >= p.groups) { return; }
  let groupsPerRow = p.inFeatures / G;
  let row = g / groupsPerRow;
  let gi = g % groupsPerRow;
  let base = row * p.inFeatures + gi * G;

  if (lid == 0u) { atomicStore(&nonFinite, 0u); }
  workgroupBarrier();
  if (lid < G) {
    let w = W[base + lid];
    ws[lid] = w;
    if (!isFinite(w)) { atomicOr(&nonFinite, 1u); }
  }
  workgroupBarrier();
  if (lid == 0u && atomicLoad(&nonFinite) != 0u) { atomicMin(&bad[0], g); }
  if (lid < G) {
    let w = ws[lid];
    var rank = 0u;
    for (var j = 0u; j < G; j++) {
      let v = ws[j];
      rank += select(0u, 1u, v < w || (v == w && j < lid));
    }
    sorted[min(rank, G - 1u)] = w; // min: ranks of non-finite weights are meaningless, the group fails anyway
  }
  workgroupBarrier();

  // Step 2: the group's centre and spread.
  var lo: f32;
  var hi: f32;
//#if NF
  lo = 0.0;
  hi = 0.0;
  if (p.useMedian != 0u) {
    lo = sorted[(G - 1u) / 2u];
    hi = farthest(lo);
  }
  if (lid < p.candidates) { products[lid] = factors[lid] * hi; }
  workgroupBarrier();
//#else
  lo = min(sorted[0], 0.0);
  hi = max(sorted[G - 1u], 0.0);
  if (lo == 0.0 && hi == 0.0) {
    lo = -1.0;
    hi = 1.0;
  }
//#endif

  // Step 3 (ICQ): score candidate `lid`; the first with the smallest cost wins.
  if (lid == 0u) { who[0] = 0u; }
  if (p.candidates > 1u) {
    var score = 0xffffffffu;
    if (lid < p.candidates) { score = candidateCost(candidate(lid, lo, hi)); }
    cost[lid] = score;
    who[lid] = lid;
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width /= 2u) {
      if (lid < width) {
        let other = lid + width;
        if (cost[other] < cost[lid] || (cost[other] == cost[lid] && who[other] < who[lid])) {
          cost[lid] = cost[other];
          who[lid] = who[other];
        }
      }
      workgroupBarrier();
    }
  }
  workgroupBarrier();
  // Step 4.
  let best = candidate(who[0], lo, hi);
  if (lid < G) { codes[lid] = codeOf(ws[lid], best); }
  workgroupBarrier();

  // Step 5: pack. Word t of the group belongs to block t / BITS, word t % BITS of that block.
  let wordsPerGroup = G * BITS / 32u;
  if (lid < wordsPerGroup) {
    let block = lid / BITS;
    let part = lid % BITS;
    var word = 0u;
    if (BITS == 4u) {
      for (var j = 0u; j < 8u; j++) { word |= codes[block * 32u + part * 8u + j] << (4u * j); }
    } else if (BITS == 2u || part < 2u) {
      for (var j = 0u; j < 16u; j++) { word |= (codes[block * 32u + part * 16u + j] & 3u) << (2u * j); }
    } else {
      for (var j = 0u; j < 32u; j++) { word |= (codes[block * 32u + j] >> 2u) << j; }
    }
    codesOut[row * (p.inFeatures / 32u) * BITS + gi * wordsPerGroup + lid] = word;
  }
  if (lid == 0u) {
    statsOut[2u * g] = best.s;
    statsOut[2u * g + 1u] = best.o;
  }
}
