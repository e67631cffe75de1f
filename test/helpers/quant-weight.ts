// A quantized weight built by the CPU reference (test/quant/quantize.ref.ts), with its dequantized values.
import type { Runtime } from '../../src/gpu';
import { dequantize, dequantizeStats, doubleQuantizeStats, packCodes, type QuantizedWeight, type QuantSpec } from '../../src/quant';
import { quantizeRef } from '../quant/quantize.ref';
import { Rng } from './rng';

/** A quantized weight built by the CPU reference, so these tests do not depend on the GPU quantizer. */
export function makeWeight(rt: Runtime, out: number, inFeatures: number, spec: QuantSpec, seed: number) {
  const w = new Rng(seed).normals(out * inFeatures, 0.05);
  const { codes, stats } = quantizeRef(w, out, inFeatures, spec);
  const codesT = rt.upload(packCodes(codes, out, inFeatures, spec.bits), [out, (inFeatures / 32) * spec.bits], 'w.codes');
  if (spec.doubleQuant) {
    const { packed, blocks } = doubleQuantizeStats(stats);
    const qw: QuantizedWeight = {
      name: 'w', spec, out, inFeatures, codes: codesT,
      stats: rt.upload(packed, [packed.length], 'w.stats8'),
      statBlocks: rt.upload(blocks, [blocks.length / 4, 4], 'w.statBlocks'),
    };
    return { qw, dense: dequantize(codes, dequantizeStats(packed, blocks, stats.length / 2), out, inFeatures, spec) };
  }
  const qw: QuantizedWeight = { name: 'w', spec, out, inFeatures, codes: codesT, stats: rt.upload(stats, [out, inFeatures / spec.groupSize, 2], 'w.stats') };
  return { qw, dense: dequantize(codes, stats, out, inFeatures, spec) };
}

