// RMSNorm over the last dimension (HF LlamaRMSNorm in f32): y = x · rsqrt(mean(x²) + eps) · w.
// x, y: [rows, cols]; w: [cols]. One 256-invocation workgroup per row: strided partial sums of x²,
// workgroupSum (shaders/workgroup_reduce.wgsl, included), then a strided scaled write.
// Backward (w frozen): with r = rsqrt(mean(x²) + eps) and g = w·dy,
//   dx = r·g − x · r³/cols · Σ(g·x), added into dx when `accumulate` (the residual stream's gradient).

struct Params { rows: u32, cols: u32, eps: f32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// backward: dy at 3 (read), dx at 4.
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * groups.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var sum = 0.0;
  for (var c = lid; c < p.cols; c += 256u) {
    let v = x[base + c];
    sum += v * v;
  }
  let inv = inverseSqrt(workgroupSum(lid, sum) / f32(p.cols) + p.eps);
  for (var c = lid; c < p.cols; c += 256u) {
    y[base + c] = w[c] * (x[base + c] * inv);
  }
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * groups.x + wg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var sumSq = 0.0;
  var sumGx = 0.0;
  for (var c = lid; c < p.cols; c += 256u) {
    let v = x[base + c];
    sumSq += v * v;
    sumGx += w[c] * dy[base + c] * v;
  }
  let r = inverseSqrt(workgroupSum(lid, sumSq) / f32(p.cols) + p.eps);
  let k = workgroupSum(lid, sumGx) * r * r * r / f32(p.cols);
  for (var c = lid; c < p.cols; c += 256u) {
    let g = r * w[c] * dy[base + c] - x[base + c] * k;
    dx[base + c] = select(g, dx[base + c] + g, p.accumulate != 0u);
  }
}
//#include "workgroup_reduce.wgsl"
