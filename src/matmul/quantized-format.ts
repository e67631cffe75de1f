// What every quantized matmul kernel binds and renders for a weight's format: dequant.wgsl's template values, the
// level table, and the weight's tensors in dequant.wgsl's binding order.
import type { Runtime, Tensor } from '../gpu';
import { codeLevels, type QuantizedWeight } from '../quant';

/** The level table of a format, uploaded once per runtime. */
export function levelTable(rt: Runtime, w: QuantizedWeight): Tensor {
  return rt.constant(`levels-${w.spec.codebook}${w.spec.bits}`, () => codeLevels(w.spec));
}

/** dequant.wgsl's template values for this weight. `blocks`: the kernel reads it a 32-code block at a time
 *  (fetchBlock), which binds 2- and 4-bit codes as vec4 words and 3-bit codes as u32 words. */
export function formatValues(w: Pick<QuantizedWeight, 'spec' | 'statBlocks'>, blocks = false) {
  return { BITS: w.spec.bits, GROUP_SIZE: w.spec.groupSize, NF: +(w.spec.codebook === 'nf'), DQ: +!!w.statBlocks, CODES4: +(blocks && w.spec.bits !== 3) };
}

/** The weight's tensors at bindings 2, 4, 5 (and 6) of shaders/matmul/dequant.wgsl, around the output at 3. */
export function weightBindings(rt: Runtime, input: Tensor, w: QuantizedWeight, output: Tensor): Tensor[] {
  return [input, w.codes, output, w.stats, levelTable(rt, w), ...(w.statBlocks ? [w.statBlocks] : [])];
}

