// Sum and max over the 256 invocations of a workgroup, by a tree in workgroup memory. Appended by the ops
// whose kernels reduce a row (reduce, rmsnorm, cross_entropy). Every invocation of the workgroup must call
// them (they hold barriers); every one receives the result.

var<workgroup> partial: array<f32, 256>;

fn workgroupSum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var width = 128u; width > 0u; width >>= 1u) {
    if (lid < width) { partial[lid] += partial[lid + width]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

fn workgroupMax(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var width = 128u; width > 0u; width >>= 1u) {
    if (lid < width) { partial[lid] = max(partial[lid], partial[lid + width]); }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
