// Causal multi-head attention with grouped KV heads over a KV cache, without a [heads, T, T] matrix.
// q, out: [B·T, Hq, D] (the T new tokens of each sequence); kc, vc: [B, Hkv, cap, D] (the cache; the new
// tokens sit at cache rows past … past+T−1); mask: [B, cap] (1 = a real token, 0 = padding).
// Query (b, t, h) attends cache rows j ≤ past + t with mask[b, j] = 1, through KV head h / (Hq / Hkv).
// Few new tokens (decode): one 256-invocation workgroup per (token, head), as 4 key lanes × 64 slots; keys go
// in chunks of 64. Scores: slot i owns key j0+i, and the 4 lanes split its dot product over dims (d ≡ lane
// mod 4), summed through workgroup memory. Online softmax (running max m, sum l) over the chunk. Values: lane
// k takes keys 16k…16k+15 of the chunk and slot i owns output dims i, i+64, … (D ≤ 256), so each invocation's
// dependent chain is 16 keys long, not 64; the 4 lanes' sums are added at the end.
// A query with no visible key (a padding row) writes zeros.

struct Params { B: u32, T: u32, Hq: u32, Hkv: u32, D: u32, past: u32, cap: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG = 64u; // key slots (and output-dim slots) per chunk
const LANES = 4u;
const NONE = -1.0e30;
var<workgroup> qs: array<f32, 256>;
var<workgroup> partialDots: array<f32, LANES * WG>;
var<workgroup> probs: array<f32, WG>;
var<workgroup> red: array<f32, WG>;
var<workgroup> laneAcc: array<vec4<f32>, LANES * WG>;

// Max and sum over the 64 slots; every invocation calls them (barriers) and gets the result, lanes > 0
// contribute nothing (their values are ignored).
fn reduceMax(lid: u32, v: f32) -> f32 {
  if (lid < WG) { red[lid] = v; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduceSum(lid: u32, v: f32) -> f32 {
  if (lid < WG) { red[lid] = v; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let flat = wg.y * groups.x + wg.x;
  if (flat >= p.B * p.T * p.Hq) { return; }
  let h = flat % p.Hq;
  let row = flat / p.Hq;
  let b = row / p.T;
  let last = p.past + row % p.T;
  let kvBase = (b * p.Hkv + h / (p.Hq / p.Hkv)) * p.cap * p.D;
  let qBase = (row * p.Hq + h) * p.D;
  let lane = lid / WG;
  let slot = lid % WG;
  for (var d = lid; d < p.D; d += LANES * WG) { qs[d] = q[qBase + d] * p.scale; }
  workgroupBarrier();

  var m = NONE;
  var l = 0.0;
  var acc = vec4<f32>(0.0);
  for (var j0 = 0u; j0 <= last; j0 += WG) {
    let j = j0 + slot;
    var dot = 0.0;
    if (j <= last) {
      let k = kvBase + j * p.D;
      for (var d = lane; d < p.D; d += LANES) { dot += qs[d] * kc[k + d]; }
    }
    partialDots[lid] = dot;
    workgroupBarrier();
    var s = NONE;
    if (lid < WG && j <= last && mask[b * p.cap + j] != 0u) {
      s = partialDots[slot] + partialDots[WG + slot] + partialDots[2u * WG + slot] + partialDots[3u * WG + slot];
    }
    let mNew = max(m, reduceMax(lid, s));
    let pj = select(0.0, exp(s - mNew), s > NONE);
    if (lid < WG) { probs[lid] = pj; }
    let chunkSum = reduceSum(lid, pj);
    let corr = exp(m - mNew);
    l = l * corr + chunkSum;
    acc *= corr;
    let first = lane * (WG / LANES);
    let n = min(first + WG / LANES, last + 1u - j0);
    for (var jj = first; jj < n; jj++) {
      let pv = probs[jj];
      if (pv != 0.0) {
        let v = kvBase + (j0 + jj) * p.D;
        for (var c = 0u; c < 4u; c++) {
          let d = slot + c * WG;
          if (d < p.D) { acc[c] += pv * vc[v + d]; }
        }
      }
    }
    m = mNew;
    workgroupBarrier();
  }
  laneAcc[lid] = acc;
  workgroupBarrier();
  if (lid < WG) {
    let total = laneAcc[slot] + laneAcc[WG + slot] + laneAcc[2u * WG + slot] + laneAcc[3u * WG + slot];
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < 4u; c++) {
      let d = slot + c * WG;
      if (d < p.D) { out[qBase + d] = total[c] * inv; }
    }
  }
}

// Writes the T new tokens' keys and values ([B·T, Hkv, D], RoPE already applied to k) into cache rows
// past … past+T−1. One invocation per element of k.
@group(0) @binding(1) var<storage, read> kNew: array<f32>;
@group(0) @binding(2) var<storage, read> vNew: array<f32>;
@group(0) @binding(3) var<storage, read_write> kcOut: array<f32>;
@group(0) @binding(4) var<storage, read_write> vcOut: array<f32>;

@compute @workgroup_size(256)
fn write_kv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.B * p.T * p.Hkv * p.D) { return; }
  let d = i % p.D;
  let h = (i / p.D) % p.Hkv;
  let row = i / (p.D * p.Hkv);
  let b = row / p.T;
  let dst = ((b * p.Hkv + h) * p.cap + p.past + row % p.T) * p.D + d;
  kcOut[dst] = kNew[i];
  vcOut[dst] = vNew[i];
}

// Prefill (many new tokens): the same attention, tiled so keys and values are read once per block of
// queries instead of once per query. A 64-invocation workgroup owns 64 consecutive queries of one
// (sequence, head); each invocation keeps its query row and output row in registers (HEAD_DIM floats each,
// a template value) and an online softmax; the workgroup streams keys and values through workgroup
// memory in tiles of 32 rows, and every invocation reads them by broadcast.
const QB = 64u;
const KB = 32u;
const HD = {{HEAD_DIM}}u;
var<workgroup> kTile: array<f32, KB * HD>;
var<workgroup> vTile: array<f32, KB * HD>;

@compute @workgroup_size(64)
fn forward_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let t = min(wg.x * QB + lid, p.T - 1u); // rows past T compute a duplicate and store nothing
  let row = b * p.T + t;
  let last = p.past + t;
  let blockLast = p.past + min(wg.x * QB + QB - 1u, p.T - 1u); // the same for the whole workgroup
  let kvBase = (b * p.Hkv + h / (p.Hq / p.Hkv)) * p.cap * HD;
  let qBase = (row * p.Hq + h) * HD;
  var qr: array<f32, HD>;
  var o: array<f32, HD>;
  for (var d = 0u; d < HD; d++) {
    qr[d] = q[qBase + d] * p.scale;
    o[d] = 0.0;
  }
  var m = NONE;
  var l = 0.0;
  for (var j0 = 0u; j0 <= blockLast; j0 += KB) {
    for (var i = lid; i < KB * HD; i += QB) {
      let j = min(j0 + i / HD, p.cap - 1u);
      kTile[i] = kc[kvBase + j * HD + i % HD];
      vTile[i] = vc[kvBase + j * HD + i % HD];
    }
    workgroupBarrier();
    let n = min(KB, blockLast + 1u - j0);
    for (var jj = 0u; jj < n; jj++) {
      let j = j0 + jj;
      if (j <= last && mask[b * p.cap + j] != 0u) {
        var s = 0.0;
        for (var d = 0u; d < HD; d++) { s += qr[d] * kTile[jj * HD + d]; }
        if (s > m) {
          let corr = exp(m - s);
          l *= corr;
          for (var d = 0u; d < HD; d++) { o[d] *= corr; }
          m = s;
        }
        let pj = exp(s - m);
        l += pj;
        for (var d = 0u; d < HD; d++) { o[d] += pj * vTile[jj * HD + d]; }
      }
    }
    workgroupBarrier();
  }
  if (wg.x * QB + lid < p.T) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var d = 0u; d < HD; d++) { out[qBase + d] = o[d] * inv; }
  }
}
