// GPU quantization of an f32 weight [out, in] into a QuantizedWeight (codes + stats), with optional ICQ.
// The raw weight stays the caller's; non-finite weights fail with a QuantFormatError naming the tensor.
import type { Runtime, Tensor } from '../gpu';
import { assertBindable, renderWgsl, Uniforms, variantName } from '../gpu';
import { grid1d } from '../ops/grid';
import code from '../../shaders/quantize.wgsl?raw';
import { QuantFormatError } from './errors';
import { codeLevels, doubleQuantizeStats, levelMidpoints, validateShape, validateSpec, wordsPerRow, type QuantSpec } from './format';
import { entropyTable, icqIntFactors, icqNfFactors } from './icq';

export interface QuantizedWeight {
  readonly name: string;
  readonly spec: QuantSpec;
  readonly out: number;
  readonly inFeatures: number;
  /** u32 [out, in·bits/32], the packed codes. */
  readonly codes: Tensor;
  /** f32 [out, in/groupSize, 2], (s, o) per group; with spec.doubleQuant u32 [⌈groups/2⌉] of 8-bit codes. */
  readonly stats: Tensor;
  /** With spec.doubleQuant: f32 [⌈groups/256⌉, 4], the codes' block parameters (src/quant/format.ts). */
  readonly statBlocks?: Tensor;
}

export function freeQuantized(rt: Runtime, q: QuantizedWeight): void {
  rt.free(q.codes, q.stats, ...(q.statBlocks ? [q.statBlocks] : []));
}

/** Quantizes `weight` (f32 [out, in] on the GPU) and waits for the result's validity check. */
export async function quantize(rt: Runtime, weight: Tensor, spec: QuantSpec, name = weight.label): Promise<QuantizedWeight> {
  validateSpec(spec, name);
  if (weight.shape.length !== 2 || weight.dtype !== 'f32') {
    throw new QuantFormatError(`${name}: expected an f32 [out, in] weight, got ${weight.dtype} [${weight.shape}]`);
  }
  const [out, inFeatures] = weight.shape;
  validateShape(out, inFeatures, spec, name);
  const G = spec.groupSize;
  const groups = (out * inFeatures) / G;
  const icq = spec.calibrate === 'icq';
  const nf = spec.codebook === 'nf';
  const factors = icq ? (nf ? icqNfFactors() : icqIntFactors()) : Float32Array.of(nf ? 0 : 1);

  // Codes and statistics are smaller than the weight, so this one check covers every binding below, and it
  // comes before anything is allocated.
  assertBindable(rt, weight, `quantize ${name}`);

  const values = { BITS: spec.bits, G, NF: +nf };
  const kernel = await rt.kernel({ shader: variantName('quantize', values), code: () => renderWgsl('quantize', code, values), entryPoint: 'main' });
  const tables = [
    rt.constant(`quantize-factors-${spec.codebook}-${icq ? 'icq' : 'none'}`, () => factors),
    rt.constant(`level-midpoints-${spec.codebook}${spec.bits}`, () => levelMidpoints(codeLevels(spec))),
    rt.constant(`entropy-table-${G}`, () => entropyTable(G)),
  ];
  // Everything allocated here goes back to the pool if anything below throws (a limit, a lost device).
  const held: Tensor[] = [];
  const hold = (t: Tensor) => (held.push(t), t);
  try {
    const codes = hold(rt.tensor([out, wordsPerRow(inFeatures, spec.bits)], 'u32', `${name}.codes`));
    const stats = hold(rt.tensor([out, inFeatures / G, 2], 'f32', `${name}.stats`));
    const bad = hold(rt.upload(Uint32Array.of(0xffffffff), [1], 'non-finite-group'));
    const params = new Uniforms(8)
      .u32(out).u32(inFeatures).u32(groups).u32(factors.length)
      .u32(icq && nf ? 1 : 0).f32(Math.fround(1 / (2 ** spec.bits - 1))).u32(0).u32(0);
    const step = rt.step();
    step.dispatch(kernel, params.bytes, [weight, ...tables, codes, stats, bad], grid1d(groups, rt.device.limits.maxComputeWorkgroupsPerDimension), `quantize ${name}`);
    step.submit();
    const [firstBad] = await rt.read(bad);
    if (firstBad !== 0xffffffff) {
      const groupsPerRow = inFeatures / G;
      throw new QuantFormatError(
        `${name}: non-finite weight (NaN or ±Inf) in row ${Math.floor(firstBad / groupsPerRow)}, columns ${(firstBad % groupsPerRow) * G}..${(firstBad % groupsPerRow) * G + G - 1}`,
      );
    }
    rt.free(held.pop()!); // bad
    if (!spec.doubleQuant) return { name, spec: { ...spec }, out, inFeatures, codes, stats };
    // Double quantization runs on the CPU over the read-back statistics (8 bytes per group, e.g. 5.6 MB for an
    // 11008×4096 weight at G = 64): exact and identical to the reference by construction.
    const { packed, blocks } = doubleQuantizeStats((await rt.read(stats)) as Float32Array);
    const stats8 = hold(rt.upload(packed, [packed.length], `${name}.stats8`));
    const statBlocks = rt.upload(blocks, [blocks.length / 4, 4], `${name}.statBlocks`);
    rt.free(stats);
    return { name, spec: { ...spec }, out, inFeatures, codes, stats: stats8, statBlocks };
  } catch (e) {
    rt.free(...held);
    throw e;
  }
}
