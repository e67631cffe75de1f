// Backward of causal grouped-query attention (training: B sequences of T tokens, keys and values laid out as the
// forward's cache [B, Hkv, cap, D] with the T tokens at rows 0 … T−1), without a [heads, T, T] matrix: scores are
// recomputed from q and k, FlashAttention-2 style, in two passes.
//   q, o, dout, dq: [B·T, Hq, D];  kc, vc: [B, Hkv, cap, D];  mask: [B, cap] (1 = real token);
//   stats: [B, Hq, T] of (L, Δ) with L = logsumexp of the row's scaled scores, Δ = dout·o;
//   dkPart, dvPart: [B·T, Hq, D], each query head's share of dk, dv;  dk, dv: [B·T, Hkv, D].
// With s_ij = scale·q_i·k_j, P_ij = exp(s_ij − L_i) over the keys query i sees (j ≤ i, mask[j] = 1):
//   dv_j = Σ_i P_ij dout_i,  dP_ij = dout_i·v_j,  dS_ij = P_ij (dP_ij − Δ_i),
//   dq_i = scale · Σ_j dS_ij k_j,  dk_j = scale · Σ_i dS_ij q_i  (summed over the Hq/Hkv query heads of the group).
// backward_dq: a 64-invocation workgroup owns 64 consecutive queries of one (sequence, head); each invocation
// holds its q, dout and dq rows in registers, and key/value tiles of TILE rows stream through workgroup memory
// (first pass: L by an online softmax; second pass: dq). It also writes (L, Δ) for backward_dkv.
// backward_dkv: a 64-invocation workgroup owns 64 consecutive keys of one (sequence, query head) — one workgroup per
// query head, not per KV head, for parallelism: each invocation holds k, v and its head's share of dk, dv, and tiles
// of queries, output gradients and (L, Δ) stream through workgroup memory. reduce_kv sums the shares of the
// Hq/Hkv query heads of each KV head.

struct Params { B: u32, T: u32, Hq: u32, Hkv: u32, D: u32, past: u32, cap: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read> o: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
// backward_dq writes dq and stats; backward_dkv reads stats (binding 5, in place of o) and writes dk, dv.
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;
@group(0) @binding(8) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> statsIn: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> dkPart: array<f32>;
@group(0) @binding(8) var<storage, read_write> dvPart: array<f32>;
// reduce_kv
@group(0) @binding(1) var<storage, read> dkShares: array<f32>;
@group(0) @binding(2) var<storage, read> dvShares: array<f32>;
@group(0) @binding(3) var<storage, read_write> dk: array<f32>;
@group(0) @binding(4) var<storage, read_write> dv: array<f32>;

const ROWS = 64u;
const HD = {{HEAD_DIM}}u;
const TILE = {{TILE}}u;
// L of a query that sees no key: every P_ij is then exp(−huge) = 0.
const NO_KEYS = 3.0e38;
var<workgroup> tileA: array<f32, TILE * HD>;
var<workgroup> tileB: array<f32, TILE * HD>;
var<workgroup> tileStats: array<vec2<f32>, TILE>;

@compute @workgroup_size(64)
fn backward_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let t = min(wg.x * ROWS + lid, p.T - 1u); // rows past T compute a duplicate and store nothing
  let row = b * p.T + t;
  let blockLast = min(wg.x * ROWS + ROWS - 1u, p.T - 1u);
  let kvBase = (b * p.Hkv + h / (p.Hq / p.Hkv)) * p.cap * HD;
  let qBase = (row * p.Hq + h) * HD;
  var qr: array<f32, HD>;
  var dor: array<f32, HD>;
  var acc: array<f32, HD>;
  var delta = 0.0;
  for (var d = 0u; d < HD; d++) {
    qr[d] = q[qBase + d] * p.scale;
    dor[d] = dout[qBase + d];
    delta += dor[d] * o[qBase + d];
    acc[d] = 0.0;
  }
  var m = -3.0e38;
  var l = 0.0;
  for (var j0 = 0u; j0 <= blockLast; j0 += TILE) {
    for (var i = lid; i < TILE * HD; i += ROWS) {
      tileA[i] = kc[kvBase + min(j0 + i / HD, p.cap - 1u) * HD + i % HD];
    }
    workgroupBarrier();
    let n = min(TILE, blockLast + 1u - j0);
    for (var jj = 0u; jj < n; jj++) {
      let j = j0 + jj;
      if (j <= t && mask[b * p.cap + j] != 0u) {
        var s = 0.0;
        for (var d = 0u; d < HD; d++) { s += qr[d] * tileA[jj * HD + d]; }
        if (s > m) {
          l *= exp(m - s);
          m = s;
        }
        l += exp(s - m);
      }
    }
    workgroupBarrier();
  }
  let L = select(NO_KEYS, m + log(l), l > 0.0);
  for (var j0 = 0u; j0 <= blockLast; j0 += TILE) {
    for (var i = lid; i < TILE * HD; i += ROWS) {
      let at = kvBase + min(j0 + i / HD, p.cap - 1u) * HD + i % HD;
      tileA[i] = kc[at];
      tileB[i] = vc[at];
    }
    workgroupBarrier();
    let n = min(TILE, blockLast + 1u - j0);
    for (var jj = 0u; jj < n; jj++) {
      let j = j0 + jj;
      if (j <= t && mask[b * p.cap + j] != 0u) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HD; d++) {
          s += qr[d] * tileA[jj * HD + d];
          dp += dor[d] * tileB[jj * HD + d];
        }
        let ds = exp(s - L) * (dp - delta);
        for (var d = 0u; d < HD; d++) { acc[d] += ds * tileA[jj * HD + d]; }
      }
    }
    workgroupBarrier();
  }
  if (wg.x * ROWS + lid < p.T) {
    for (var d = 0u; d < HD; d++) { dq[qBase + d] = acc[d] * p.scale; }
    stats[(b * p.Hq + h) * p.T + t] = vec2<f32>(L, delta);
  }
}

@compute @workgroup_size(64)
fn backward_dkv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let hk = h / (p.Hq / p.Hkv);
  let first = wg.x * ROWS; // the block's first key: queries before it see none of its keys
  let j = min(first + lid, p.T - 1u);
  let kvAt = ((b * p.Hkv + hk) * p.cap + j) * HD;
  var kr: array<f32, HD>;
  var vr: array<f32, HD>;
  var dkr: array<f32, HD>;
  var dvr: array<f32, HD>;
  for (var d = 0u; d < HD; d++) {
    kr[d] = kc[kvAt + d];
    vr[d] = vc[kvAt + d];
    dkr[d] = 0.0;
    dvr[d] = 0.0;
  }
  let visible = mask[b * p.cap + j] != 0u;
  {
    for (var i0 = first; i0 < p.T; i0 += TILE) {
      for (var e = lid; e < TILE * HD; e += ROWS) {
        let at = ((b * p.T + min(i0 + e / HD, p.T - 1u)) * p.Hq + h) * HD + e % HD;
        tileA[e] = q[at] * p.scale;
        tileB[e] = dout[at];
      }
      for (var e = lid; e < TILE; e += ROWS) {
        tileStats[e] = statsIn[(b * p.Hq + h) * p.T + min(i0 + e, p.T - 1u)];
      }
      workgroupBarrier();
      let n = min(TILE, p.T - i0);
      for (var ii = 0u; ii < n; ii++) {
        let i = i0 + ii;
        if (visible && i >= j) {
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < HD; d++) {
            s += tileA[ii * HD + d] * kr[d];
            dp += tileB[ii * HD + d] * vr[d];
          }
          let st = tileStats[ii];
          let pij = exp(s - st.x);
          let ds = pij * (dp - st.y);
          for (var d = 0u; d < HD; d++) {
            dvr[d] += pij * tileB[ii * HD + d];
            dkr[d] += ds * tileA[ii * HD + d];
          }
        }
      }
      workgroupBarrier();
    }
  }
  if (first + lid < p.T) {
    let at = ((b * p.T + j) * p.Hq + h) * HD;
    // tileA held scale·q, so dkr already carries the factor scale.
    for (var d = 0u; d < HD; d++) {
      dkPart[at + d] = dkr[d];
      dvPart[at + d] = dvr[d];
    }
  }
}

// One invocation per element of dk (and dv): the sum of its KV head's Hq/Hkv query-head shares.
@compute @workgroup_size(256)
fn reduce_kv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.B * p.T * p.Hkv * HD) { return; }
  let d = i % HD;
  let hk = (i / HD) % p.Hkv;
  let row = i / (HD * p.Hkv);
  let group = p.Hq / p.Hkv;
  var sk = 0.0;
  var sv = 0.0;
  for (var g = 0u; g < group; g++) {
    let at = (row * p.Hq + hk * group + g) * HD + d;
    sk += dkShares[at];
    sv += dvShares[at];
  }
  dk[i] = sk;
  dv[i] = sv;
}
