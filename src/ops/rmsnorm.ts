// RMSNorm over the last dimension, as HF's LlamaRMSNorm computes it in f32, and its backward.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, Uniforms } from '../gpu';
import kernelCode from '../../shaders/rmsnorm.wgsl?raw';
import { grid1d } from './grid';
import { opsKernel } from './wgsl';

const code = opsKernel('rmsnorm', kernelCode);

/** y [rows, cols] = x · rsqrt(mean(x²) + eps) · weight [cols]. */
export async function rmsnormForward(rt: Runtime, step: Step, x: Tensor, weight: Tensor, y: Tensor, eps: number) {
  expectShape(x, [-1, -1], 'rmsnorm');
  const [rows, cols] = x.shape;
  expectShape(weight, [cols], 'rmsnorm');
  expectShape(y, [rows, cols], 'rmsnorm');
  const kernel = await rt.kernel({ shader: 'rmsnorm', code, entryPoint: 'forward' });
  const groups = grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(4).u32(rows).u32(cols).f32(eps).u32(0).bytes, [x, weight, y], groups, `rmsnorm ${rows}x${cols}`);
}

/** dx [rows, cols] (+)= the gradient of rmsnormForward's y with respect to x, given dy; the weight is frozen.
 *  `accumulate` adds into dx (the residual stream's gradient) instead of overwriting it. */
export async function rmsnormBackward(
  rt: Runtime, step: Step, x: Tensor, weight: Tensor, dy: Tensor, dx: Tensor, eps: number, accumulate = false,
) {
  expectShape(x, [-1, -1], 'rmsnormBackward');
  const [rows, cols] = x.shape;
  expectShape(weight, [cols], 'rmsnormBackward');
  expectShape(dy, [rows, cols], 'rmsnormBackward');
  expectShape(dx, [rows, cols], 'rmsnormBackward');
  const kernel = await rt.kernel({ shader: 'rmsnorm', code, entryPoint: 'backward' });
  const groups = grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension);
  const params = new Uniforms(4).u32(rows).u32(cols).f32(eps).u32(accumulate ? 1 : 0).bytes;
  step.dispatch(kernel, params, [x, weight, dy, dx], groups, `rmsnormBackward ${rows}x${cols}`);
}
