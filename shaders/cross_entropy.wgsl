// Per-row cross-entropy from logits: loss[r] = logsumexp(logits[r, :]) − logits[r, target[r]].
// logits: [rows, vocab]; target: [rows] (0xFFFFFFFF = ignored row, loss 0). One 256-invocation
// workgroup per row: a max pass and a Σexp pass, each a strided loop plus a tree reduction.
// forward_backward also overwrites the row's logits with the loss's gradient,
//   dlogits[r, c] = scale · (softmax(logits[r])[c] − [c = target[r]])   (0 on ignored rows),
// so the [rows, vocab] logits of a chunk of tokens become their gradient in place.

struct Params { rows: u32, vocab: u32, scale: f32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

// forward_backward: the logits, read and overwritten.
@group(0) @binding(1) var<storage, read_write> logitsGrad: array<f32>;

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * groups.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.vocab;
  var m = -3.4e38;
  for (var c = lid; c < p.vocab; c += 256u) { m = max(m, logits[base + c]); }
  let rowMax = workgroupMax(lid, m);
  var sum = 0.0;
  for (var c = lid; c < p.vocab; c += 256u) { sum += exp(logits[base + c] - rowMax); }
  let total = workgroupSum(lid, sum);
  if (lid == 0u) {
    let t = targets[row];
    loss[row] = select(log(total) + rowMax - logits[base + min(t, p.vocab - 1u)], 0.0, t == 0xFFFFFFFFu);
  }
}

@compute @workgroup_size(256)
fn forward_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * groups.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.vocab;
  let t = targets[row];
  let ignored = t == 0xFFFFFFFFu;
  // Read before any invocation overwrites the row (the reductions' barriers and storageBarrier order it).
  let targetLogit = logitsGrad[base + min(t, p.vocab - 1u)];
  var m = -3.4e38;
  for (var c = lid; c < p.vocab; c += 256u) { m = max(m, logitsGrad[base + c]); }
  let rowMax = workgroupMax(lid, m);
  var sum = 0.0;
  for (var c = lid; c < p.vocab; c += 256u) { sum += exp(logitsGrad[base + c] - rowMax); }
  let lse = log(workgroupSum(lid, sum)) + rowMax;
  if (lid == 0u) { loss[row] = select(lse - targetLogit, 0.0, ignored); }
  storageBarrier();
  for (var c = lid; c < p.vocab; c += 256u) {
    let g = exp(logitsGrad[base + c] - lse) - select(0.0, 1.0, c == t);
    logitsGrad[base + c] = select(p.scale * g, 0.0, ignored);
  }
}
//#include "workgroup_reduce.wgsl"
