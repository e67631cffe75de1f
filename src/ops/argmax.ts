// Row-wise argmax (greedy decoding on the GPU, so the next step can start before the CPU sees the token).
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, u32Params } from '../gpu';
import code from '../../shaders/argmax.wgsl?raw';
import { grid1d } from './grid';

/** out (u32 [rows]) = the first index of each row's maximum in x (f32 [rows, cols]). */
export async function argmaxRows(rt: Runtime, step: Step, x: Tensor, out: Tensor) {
  expectShape(x, [-1, -1], 'argmax');
  const [rows, cols] = x.shape;
  expectShape(out, [rows], 'argmax', 'u32');
  const kernel = await rt.kernel({ shader: 'argmax', code, entryPoint: 'main' });
  step.dispatch(kernel, u32Params(rows, cols), [x, out], grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension), `argmax ${rows}x${cols}`);
}
