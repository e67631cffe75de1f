// The end of the lane-per-row decode GEMVs (gemv.wgsl, gemv_units.wgsl include it; it includes gemv_output.wgsl):
// each output's LANES partial sums are summed and stored (storeOutput). Invocation lid holds acc[m] for output row
// firstRow + lid / LANES and row m of X. Uses the including shader's WG (workgroup size), LANES, MMAX, ROWS, p
// (M, N, accumulate, part1, part2) and Y. Call from uniform control flow.
// Template: SUBGROUPS: sum with subgroup shuffles (no workgroup memory, no barriers). The host sets it only
// when the device's smallest subgroup holds LANES invocations; it relies on a subgroup being a run of
// consecutive local invocation indices, as on every implementation we know (tested on SwiftShader, checked
// on the H100 by the bench self-check).

//#if SUBGROUPS
fn reduceAndStore(firstRow: u32, lid: u32, acc: array<f32, MMAX>) {
  for (var m = 0u; m < MMAX; m++) {
    var s = acc[m];
    for (var mask = LANES / 2u; mask > 0u; mask /= 2u) { s += subgroupShuffleXor(s, mask); }
    if (lid % LANES == 0u) { storeOutput(firstRow, (lid / LANES) * MMAX + m, s); }
  }
}
//#else
var<workgroup> partial: array<f32, WG * MMAX>; // partial[o·LANES + lane]

fn reduceAndStore(firstRow: u32, lid: u32, acc: array<f32, MMAX>) {
  let rowInGroup = lid / LANES;
  let lane = lid % LANES;
  for (var m = 0u; m < MMAX; m++) { partial[(rowInGroup * MMAX + m) * LANES + lane] = acc[m]; }
  workgroupBarrier();
  let outputs = ROWS * MMAX;
  for (var width = LANES / 2u; width > 0u; width /= 2u) {
    for (var i = lid; i < outputs * width; i += WG) {
      let o = i / width;
      let l = i % width;
      partial[o * LANES + l] += partial[o * LANES + l + width];
    }
    workgroupBarrier();
  }
  for (var o = lid; o < outputs; o += WG) { storeOutput(firstRow, o, partial[o * LANES]); }
}
//#endif
//#include "gemv_output.wgsl"
