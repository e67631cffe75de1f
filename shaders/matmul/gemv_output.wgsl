// Where the decode GEMVs (gemv.wgsl, gemv_units.wgsl, gemv_slices.wgsl include it) store an output: times
// p.scale, added into Y when p.accumulate is set. Uses the including shader's MMAX (rows of X), p (M, N, accumulate,
// part1, part2, scale) and Y.

// Row r of a weight stacked from up to three parts (q, k, v) goes to its part's [M, rows] block of Y, the
// blocks one after another: a part's outputs are one contiguous tensor. One part: Y is [M, N] as usual.
fn outputIndex(m: u32, r: u32) -> u32 {
  var start = 0u;
  var end = p.part1;
  if (r >= p.part2) {
    start = p.part2;
    end = p.N;
  } else if (r >= p.part1) {
    start = p.part1;
    end = p.part2;
  }
  return p.M * start + m * (end - start) + (r - start);
}

fn storeOutput(firstRow: u32, o: u32, sum: f32) { // o = rowInGroup·MMAX + m
  let r = firstRow + o / MMAX;
  if (r < p.N) {
    var s = p.scale * sum;
    let idx = outputIndex(o % MMAX, r);
    if (p.accumulate != 0u) { s += Y[idx]; }
    Y[idx] = s;
  }
}
