// Rotary position embedding (HF rotate-half form), applied in place to [tokens, heads, headDim], and its backward.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, ShapeError, u32Params } from '../gpu';
import code from '../../shaders/rope.wgsl?raw';
import { grid1d } from './grid';

/**
 * x [tokens, heads, headDim] ← rope(x) at positions (u32 [tokens]). table: [positions, headDim/2, 2] of
 * (cos, sin) from `ropeTable`; a position past the table's end is an error on the CPU side (the caller
 * grows the table), and is clamped in the kernel.
 */
export async function ropeForward(rt: Runtime, step: Step, x: Tensor, positions: Tensor, table: Tensor) {
  return rotate(rt, step, x, positions, table, 'forward');
}

/** dx [tokens, heads, headDim] ← the gradient before ropeForward, given the gradient after it (in place): the
 *  inverse rotation. */
export async function ropeBackward(rt: Runtime, step: Step, dx: Tensor, positions: Tensor, table: Tensor) {
  return rotate(rt, step, dx, positions, table, 'backward');
}

async function rotate(rt: Runtime, step: Step, x: Tensor, positions: Tensor, table: Tensor, entryPoint: 'forward' | 'backward') {
  expectShape(x, [-1, -1, -1], 'rope');
  const [tokens, heads, headDim] = x.shape;
  if (headDim % 2 !== 0) throw new ShapeError(`rope: head dimension ${headDim} of '${x.label}' is odd`);
  expectShape(positions, [tokens], 'rope', 'u32');
  expectShape(table, [-1, headDim / 2, 2], 'rope');
  const kernel = await rt.kernel({ shader: 'rope', code, entryPoint });
  const groups = grid1d(Math.ceil((tokens * heads * headDim) / 2 / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, u32Params(tokens, heads, headDim / 2, table.shape[0]), [x, positions, table], groups, `rope ${entryPoint} ${tokens}x${heads}x${headDim}`);
}

/**
 * The (cos, sin) table for positions 0 … count−1, [count, invFreq.length, 2]. Angles are formed in f32 as
 * PyTorch does (f32(position) · invFreq), their cos/sin in float64, then rounded to f32.
 */
export function ropeTable(invFreq: Float32Array, count: number, attentionScaling = 1): Float32Array {
  const half = invFreq.length;
  const table = new Float32Array(count * half * 2);
  for (let pos = 0; pos < count; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * invFreq[i]);
      table[(pos * half + i) * 2] = Math.cos(angle) * attentionScaling;
      table[(pos * half + i) * 2 + 1] = Math.sin(angle) * attentionScaling;
    }
  }
  return table;
}
