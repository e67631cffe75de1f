// Per-row cross-entropy of logits against target ids (the loss of language modelling), and its gradient.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, Uniforms } from '../gpu';
import kernelCode from '../../shaders/cross_entropy.wgsl?raw';
import { grid1d } from './grid';
import { opsKernel } from './wgsl';

const code = opsKernel('cross_entropy', kernelCode);

/** Target id that marks a row whose loss is not wanted (it reads as 0). */
export const IGNORE_TARGET = 0xffffffff;

/** loss [rows] = logsumexp(logits[r]) − logits[r, target[r]]; logits [rows, vocab], target u32 [rows]. */
export async function crossEntropyForward(rt: Runtime, step: Step, logits: Tensor, target: Tensor, loss: Tensor) {
  expectShape(logits, [-1, -1], 'crossEntropy');
  const [rows, vocab] = logits.shape;
  expectShape(target, [rows], 'crossEntropy', 'u32');
  expectShape(loss, [rows], 'crossEntropy');
  const kernel = await rt.kernel({ shader: 'cross_entropy', code, entryPoint: 'forward' });
  const groups = grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(4).u32(rows).u32(vocab).f32(0).u32(0).bytes, [logits, target, loss], groups, `crossEntropy ${rows}x${vocab}`);
}

/** The loss as crossEntropyForward gives it, and its gradient in place of the logits:
 *  logits[r] ← scale · (softmax(logits[r]) − onehot(target[r])), zero on ignored rows. `scale` is 1 / the number of
 *  scored tokens for a mean loss. */
export async function crossEntropyForwardBackward(rt: Runtime, step: Step, logits: Tensor, target: Tensor, loss: Tensor, scale: number) {
  expectShape(logits, [-1, -1], 'crossEntropyForwardBackward');
  const [rows, vocab] = logits.shape;
  expectShape(target, [rows], 'crossEntropyForwardBackward', 'u32');
  expectShape(loss, [rows], 'crossEntropyForwardBackward');
  if (!Number.isFinite(scale)) throw new RangeError(`crossEntropyForwardBackward: scale must be finite, got ${scale}`);
  const kernel = await rt.kernel({ shader: 'cross_entropy', code, entryPoint: 'forward_backward' });
  const groups = grid1d(rows, rt.device.limits.maxComputeWorkgroupsPerDimension);
  const params = new Uniforms(4).u32(rows).u32(vocab).f32(scale).u32(0).bytes;
  step.dispatch(kernel, params, [logits, target, loss], groups, `crossEntropyForwardBackward ${rows}x${vocab}`);
}
