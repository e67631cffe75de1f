// RMSNorm over the last dimension (HF LlamaRMSNorm in f32): y = x · rsqrt(mean(x²) + eps) · w.
// x, y: [rows, cols]; w: [cols]. One 256-invocation workgroup per row: strided partial sums of x²,
// workgroupSum (shaders/workgroup_reduce.wgsl, appended), then a strided scaled write.

struct Params { rows: u32, cols: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

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
