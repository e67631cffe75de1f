// Inverted dropout whose mask is a hash of (seed, element index): the backward regenerates it from the seed.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, numel, Uniforms } from '../gpu';
import code from '../../shaders/dropout.wgsl?raw';
import { grid1d } from './grid';

async function launch(rt: Runtime, step: Step, entryPoint: string, x: Tensor, out: Tensor, p: number, seed: number) {
  expectShape(out, x.shape, `dropout ${entryPoint}`);
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
  const n = numel(x.shape);
  const kernel = await rt.kernel({ shader: 'dropout', code, entryPoint });
  const groups = grid1d(Math.ceil(n / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(4).u32(n).u32(seed >>> 0).f32(p).u32(0).bytes, [x, out], groups, `dropout ${entryPoint} ${n}`);
}

/** out = x with each element zeroed with probability p (by a hash of seed and its index), the rest × 1/(1 − p). */
export function dropoutForward(rt: Runtime, step: Step, x: Tensor, out: Tensor, p: number, seed: number) {
  return launch(rt, step, 'forward', x, out, p, seed);
}

/** dx += the gradient g through dropoutForward's mask of the same (p, seed). */
export function dropoutBackwardAdd(rt: Runtime, step: Step, g: Tensor, dx: Tensor, p: number, seed: number) {
  return launch(rt, step, 'backward_add', g, dx, p, seed);
}
