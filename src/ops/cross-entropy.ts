// Per-row cross-entropy of logits against target ids (the loss of language modelling).
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, u32Params } from '../gpu';
import kernelCode from '../../shaders/cross_entropy.wgsl?raw';
import reduceCode from '../../shaders/workgroup_reduce.wgsl?raw';
import { grid1d } from './grid';

const code = kernelCode + reduceCode;

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
  step.dispatch(kernel, u32Params(rows, vocab), [logits, target, loss], groups, `crossEntropy ${rows}x${vocab}`);
}
