// The rows of a quantized weight picked by token ids, dequantized (shaders/matmul/gather_rows.wgsl): the token
// embedding when it is stored in the base's low-bit format, reading only the rows a batch uses.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, renderWgsl, Uniforms, variantName } from '../gpu';
import { grid1d } from '../ops/grid';
import { blockEnd, WHOLE, type RowBlock } from '../ops/embedding';
import type { QuantizedWeight } from '../quant';
import { formatValues, weightBindings } from './quantized-format';
import { MATMUL_WGSL } from './wgsl';

/** out [tokens, cols] = rows of Ŵ [rows, cols] named by ids (u32 [tokens]), dequantized. A row block of a larger
 *  weight (`block`) writes only the tokens whose ids fall in it. */
export async function quantGather(rt: Runtime, step: Step, ids: Tensor, w: QuantizedWeight, out: Tensor, block: RowBlock = WHOLE) {
  expectShape(ids, [-1], 'quantGather', 'u32');
  const tokens = ids.shape[0];
  expectShape(out, [tokens, w.inFeatures], 'quantGather');
  const values = formatValues(w);
  const kernel = await rt.kernel({ shader: variantName('gather_rows', values), code: () => renderWgsl('gather_rows', MATMUL_WGSL['gather_rows.wgsl'], values, MATMUL_WGSL), entryPoint: 'main' });
  const groups = grid1d(Math.ceil((tokens * w.inFeatures) / 4 / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  const params = new Uniforms(8).u32(tokens).u32(w.inFeatures).u32(w.out).u32(block.first).u32(blockEnd(block, w.out)).bytes;
  step.dispatch(kernel, params, weightBindings(rt, ids, w, out), groups, `gather ${w.name} ${tokens}x${w.inFeatures}`);
}
