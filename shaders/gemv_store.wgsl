// The end of both decode GEMVs (gemv.wgsl, gemv_units.wgsl; appended to them): each output's LANES partial sums
// are summed by a tree in workgroup memory and stored, added into Y when p.accumulate is set. Uses the including
// shader's LANES, MMAX, ROWS, p and Y; declares the partial sums. Call from uniform control flow.

var<workgroup> partial: array<f32, 256u * MMAX>; // partial[(rowInGroup·MMAX + m)·LANES + lane]

fn reduceAndStore(firstRow: u32, lid: u32, acc: array<f32, MMAX>) {
  let rowInGroup = lid / LANES;
  let lane = lid % LANES;
  for (var m = 0u; m < MMAX; m++) { partial[(rowInGroup * MMAX + m) * LANES + lane] = acc[m]; }
  workgroupBarrier();
  let outputs = ROWS * MMAX;
  for (var width = LANES / 2u; width > 0u; width /= 2u) {
    for (var i = lid; i < outputs * width; i += 256u) {
      let o = i / width;
      let l = i % width;
      partial[o * LANES + l] += partial[o * LANES + l + width];
    }
    workgroupBarrier();
  }
  for (var o = lid; o < outputs; o += 256u) {
    let r = firstRow + o / MMAX;
    let m = o % MMAX;
    if (r < p.N) {
      var s = partial[o * LANES];
      let idx = m * p.N + r;
      if (p.accumulate != 0u) { s += Y[idx]; }
      Y[idx] = s;
    }
  }
}
