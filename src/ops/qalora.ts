// QA-LoRA's group operations (shaders/qalora.wgsl): the group sums of an input, the pooled gradient spread back
// over each group, and the fold of an adapter's per-group constant into quantized offsets.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, ShapeError, u32Params } from '../gpu';
import code from '../../shaders/qalora.wgsl?raw';
import { grid1d } from './grid';

async function launch(rt: Runtime, step: Step, entryPoint: string, rows: number, inF: number, groupSize: number, n: number, src: Tensor, dst: Tensor, R = 1) {
  if (inF % groupSize !== 0) throw new ShapeError(`qalora ${entryPoint}: ${inF} inputs are not whole groups of ${groupSize}`);
  const kernel = await rt.kernel({ shader: 'qalora', code, entryPoint });
  const groups = grid1d(Math.ceil(n / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, u32Params(rows, inF, groupSize, R), [src, dst], groups, `qalora ${entryPoint} ${rows}x${inF}/${groupSize}`);
}

/** xbar [N, in/G] = the sums of each group of G consecutive inputs of x [N, in]. */
export async function groupSum(rt: Runtime, step: Step, x: Tensor, xbar: Tensor, groupSize: number) {
  const [N, inF] = x.shape;
  expectShape(xbar, [N, inF / groupSize], 'groupSum');
  await launch(rt, step, 'pool', N, inF, groupSize, N * (inF / groupSize), x, xbar);
}

/** dx [N, in] += t [N, in/G] repeated over each group of G inputs (groupSum's backward, added). */
export async function groupExpandAdd(rt: Runtime, step: Step, t: Tensor, dx: Tensor, groupSize: number) {
  const [N, inF] = dx.shape;
  expectShape(t, [N, inF / groupSize], 'groupExpandAdd');
  await launch(rt, step, 'expand_add', N, inF, groupSize, N * inF, t, dx);
}

/** stats f32 [out, in/G, 2]: each group's offset += c [out/R, in/G] (row o takes row ⌊o / R⌋ of c). */
export async function addToOffsets(rt: Runtime, step: Step, c: Tensor, stats: Tensor, rowRepeat = 1) {
  const [rows, groups] = c.shape;
  const out = rows * rowRepeat;
  expectShape(stats, [out, groups, 2], 'addToOffsets');
  await launch(rt, step, 'merge_offsets', out, groups, 1, out * groups, c, stats, rowRepeat);
}
