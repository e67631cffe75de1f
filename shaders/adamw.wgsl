// One optimizer step over the flat adapter buffers (src/adapters/params.ts): the global gradient norm in two
// kernels, then AdamW (decoupled weight decay, bias correction) with the gradient clipped to that norm, as
// torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW compute them.
//   sumsq_partial  partialOut[w] = Σ g² over workgroup w's strided share of the n gradients (256 invocations each)
//   finalize       one workgroup: norm = √Σ partial; coef = min(1, maxNorm / (norm + 1e-6)) (1 when maxNorm = 0);
//                  report = (loss sum, norm, coef); a non-finite norm or loss sets the sticky health flag
//   update         one invocation per element; skips everything once the health flag is set, so a non-finite
//                  step leaves the parameters and moments as of the last good step
// Non-finite values are found through their exponent bits: WGSL lets compilers assume no NaN/Inf in arithmetic.
// report: [loss sum, grad norm, clip coefficient, _]; health: [flag].

struct Params {
  n: u32, partials: u32, maxNorm: f32, lr: f32,
  beta1: f32, beta2: f32, eps: f32, weightDecay: f32,
  biasCorrection1: f32, biasCorrection2Sqrt: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// sumsq_partial
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> partialOut: array<f32>;
// finalize
@group(0) @binding(1) var<storage, read> partialIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> report: array<f32>;
@group(0) @binding(3) var<storage, read_write> health: array<f32>;
// update
@group(0) @binding(2) var<storage, read> reportIn: array<f32>;
@group(0) @binding(3) var<storage, read> healthIn: array<f32>;
@group(0) @binding(4) var<storage, read_write> params: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;

fn nonFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wg.x * 256u + lid; i < p.n; i += groups.x * 256u) {
    let g = grads[i];
    s += g * g;
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) { partialOut[wg.x] = total; }
}

@compute @workgroup_size(256)
fn finalize(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.partials; i += 256u) { s += partialIn[i]; }
  let norm = sqrt(workgroupSum(lid, s));
  if (lid == 0u) {
    let coef = select(1.0, min(1.0, p.maxNorm / (norm + 1e-6)), p.maxNorm > 0.0);
    report[1] = norm;
    report[2] = coef;
    if (nonFinite(norm) || nonFinite(report[0])) { health[0] = 1.0; }
  }
}

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * groups.x + wg.x) * 256u + lid;
  if (i >= p.n || healthIn[0] != 0.0) { return; }
  let g = grads[i] * reportIn[2];
  let w = params[i] * (1.0 - p.lr * p.weightDecay);
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  params[i] = w - (p.lr / p.biasCorrection1) * mi / (sqrt(vi) / p.biasCorrection2Sqrt + p.eps);
}
//#include "workgroup_reduce.wgsl"
