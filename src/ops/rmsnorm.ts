// RMSNorm over the last dimension, as HF's LlamaRMSNorm computes it in f32.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, Uniforms } from '../gpu';
import kernelCode from '../../shaders/rmsnorm.wgsl?raw';
import reduceCode from '../../shaders/workgroup_reduce.wgsl?raw';
import { grid1d } from './grid';

const code = kernelCode + reduceCode;

/** y [rows, cols] = x · rsqrt(mean(x²) + eps) · weight [cols]. */
export async function rmsnormForward(rt: Runtime, step: Step, x: Tensor, weight: Tensor, y: Tensor, eps: number) {
  expectShape(x, [-1, -1], 'rmsnorm');
  const [rows, cols] = x.shape;
  expectShape(weight, [cols], 'rmsnorm');
  expectShape(y, [rows, cols], 'rmsnorm');
  const kernel = await rt.kernel({ shader: 'rmsnorm', code, entryPoint: 'forward' });
  const groups = grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(3).u32(rows).u32(cols).f32(eps).bytes, [x, weight, y], groups, `rmsnorm ${rows}x${cols}`);
}
