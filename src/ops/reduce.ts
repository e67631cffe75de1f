// Row-wise reductions over the last dimension: [..., cols] → [...].
import type { Runtime, Step, Tensor } from '../gpu';
import { numel, ShapeError, u32Params } from '../gpu';
import kernelCode from '../../shaders/reduce.wgsl?raw';
import { grid1d } from './grid';
import { opsKernel } from './wgsl';

const code = opsKernel('reduce', kernelCode);

async function reduceRows(rt: Runtime, step: Step, entryPoint: 'row_sum' | 'row_max' | 'row_f16_scale', x: Tensor, out: Tensor) {
  const cols = x.shape[x.shape.length - 1];
  const rows = numel(x.shape) / cols;
  const expected = x.shape.length === 1 ? [1] : x.shape.slice(0, -1);
  if (out.shape.length !== expected.length || out.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${entryPoint}: output '${out.label}' is [${out.shape}], expected [${expected}]`);
  }
  if (x.dtype !== 'f32' || out.dtype !== 'f32') throw new ShapeError(`${entryPoint}: tensors must be f32`);
  const kernel = await rt.kernel({ shader: 'reduce', code, entryPoint });
  const groups = grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, u32Params(rows, cols), [x, out], groups, `${entryPoint} ${rows}x${cols}`);
}

/** out[r] = Σ_c x[r, c] */
export async function rowSum(rt: Runtime, step: Step, x: Tensor, out: Tensor) {
  return reduceRows(rt, step, 'row_sum', x, out);
}

/** out[r] = max_c x[r, c] */
export async function rowMax(rt: Runtime, step: Step, x: Tensor, out: Tensor) {
  return reduceRows(rt, step, 'row_max', x, out);
}

/** out[r] = 2^(14 − e) for max_c |x[r, c]| = f·2^e, f ∈ [0.5, 1) (1 for a row of zeros or a non-finite one): the
 *  power of two the f16 matrix path scales a row by before rounding it to f16 (src/matmul/matrix-units.ts). */
export async function rowF16Scale(rt: Runtime, step: Step, x: Tensor, out: Tensor) {
  return reduceRows(rt, step, 'row_f16_scale', x, out);
}
