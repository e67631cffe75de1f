// Column blocks between a narrow and a wide row-major matrix (shaders/columns.wgsl): what a weight split into row
// blocks needs to write its outputs' columns and to read its output gradient's.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, ShapeError, Uniforms } from '../gpu';
import code from '../../shaders/columns.wgsl?raw';
import { grid1d } from './grid';

async function launch(rt: Runtime, step: Step, entryPoint: 'place' | 'take', narrow: Tensor, wide: Tensor, at: number, accumulate: boolean, tensors: Tensor[]) {
  expectShape(narrow, [-1, -1], entryPoint);
  const [rows, n] = narrow.shape;
  expectShape(wide, [rows, -1], entryPoint);
  const width = wide.shape[1];
  if (!(Number.isInteger(at) && at >= 0 && at + n <= width)) throw new ShapeError(`${entryPoint}: columns [${at}, ${at + n}) are outside [0, ${width})`);
  const kernel = await rt.kernel({ shader: 'columns', code, entryPoint });
  const groups = grid1d(Math.ceil((rows * n) / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(8).u32(rows).u32(n).u32(width).u32(at).u32(accumulate ? 1 : 0).bytes, tensors, groups, `${entryPoint} columns ${rows}x${n}`);
}

/** dst [rows, width] columns [at, at + n) = src [rows, n], or += with `accumulate`. */
export async function placeColumns(rt: Runtime, step: Step, src: Tensor, dst: Tensor, at: number, accumulate = false) {
  return launch(rt, step, 'place', src, dst, at, accumulate, [src, dst]);
}

/** dst [rows, n] = src [rows, width] columns [at, at + n). */
export async function takeColumns(rt: Runtime, step: Step, src: Tensor, at: number, dst: Tensor) {
  return launch(rt, step, 'take', dst, src, at, false, [src, dst]);
}
