// Workgroup grids for 1-D work: past maxComputeWorkgroupsPerDimension the count folds into y,
// and kernels recover the flat index as (wg.y · num_workgroups.x + wg.x).
export function grid1d(groups: number, maxPerDimension = 65535): [number, number] {
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y];
}
