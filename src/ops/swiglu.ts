// The LLaMA MLP's gate: silu(gate) · up, elementwise, and its backward.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, numel, u32Params } from '../gpu';
import code from '../../shaders/swiglu.wgsl?raw';
import { grid1d } from './grid';

/** out = silu(gate) · up; all three the same shape. */
export async function swigluForward(rt: Runtime, step: Step, gate: Tensor, up: Tensor, out: Tensor) {
  expectShape(up, gate.shape, 'swiglu');
  expectShape(out, gate.shape, 'swiglu');
  const n = numel(gate.shape);
  const kernel = await rt.kernel({ shader: 'swiglu', code, entryPoint: 'forward' });
  const groups = grid1d(Math.ceil(n / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, u32Params(n), [gate, up, out], groups, `swiglu ${n}`);
}

/** dgate, dup = the gradients of swigluForward's inputs, given dout; all five the same shape. */
export async function swigluBackward(rt: Runtime, step: Step, gate: Tensor, up: Tensor, dout: Tensor, dgate: Tensor, dup: Tensor) {
  for (const t of [up, dout, dgate, dup]) expectShape(t, gate.shape, 'swigluBackward');
  const n = numel(gate.shape);
  const kernel = await rt.kernel({ shader: 'swiglu', code, entryPoint: 'backward' });
  const groups = grid1d(Math.ceil(n / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, u32Params(n), [gate, up, dout, dgate, dup], groups, `swigluBackward ${n}`);
}
