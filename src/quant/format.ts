// Quantized weight formats (docs/methods.md, "The quantized base"). A linear weight W [out, in] is stored as
//   codes: u32 words, row-major. Each run of 32 consecutive codes of a row (a "block") takes `bits`
//          words: 4-bit: 4 words of 8 codes; 2-bit: 2 words of 16 codes; 3-bit: 2 words holding the
//          low 2 bits of 16 codes each, then 1 word holding bit 2 of all 32 codes. Little-endian inside
//          a word (code j of a word sits at bits j·width..). Exactly `bits` bits per code, and decoding
//          is shifts and masks with no branch on the position.
//   stats: f32 [out, in/groupSize, 2] = (s, o) per group, so ŵ = s·level[q] + o, where level[q] = q
//          for the 'int' codebook (s = scale, o = offset = −scale·zero) and the NF table for 'nf'
//          (s = absmax, o = τ, 0 without ICQ).
//   double quantization (spec.doubleQuant): the (s, o) pairs stored as signed 8-bit codes instead, two
//          groups per u32 word (group g: s code in bits 16·(g%2)…+7, o code in the next byte), with per block
//          of 256 consecutive groups an f32 (s centre, s step, o centre, o step), so s = centre + step·code:
//          the block's [min, max] of s (and of o) mapped linearly onto codes −127…127.
import { QuantFormatError } from './errors';
import { normalQuantile } from './normal';

export type Codebook = 'int' | 'nf';
export type Bits = 2 | 3 | 4;
export type GroupSize = 32 | 64 | 128;
export type Calibration = 'none' | 'icq';

export interface QuantSpec {
  codebook: Codebook;
  bits: Bits;
  groupSize: GroupSize;
  /** 'icq': IR-QLoRA's information calibration (entropy-maximising τ for nf, range factor for int). */
  calibrate?: Calibration;
  /** Store the per-group (s, o) as 8-bit codes with f32 parameters per 256 groups (see the layout above). */
  doubleQuant?: boolean;
}

/** Groups that share one set of double-quantization parameters. */
export const DQ_BLOCK = 256;

/** The tail probability bitsandbytes uses for NF4 (and we use for NF2/NF3). */
export const NF_OFFSET = 0.9677083;

/** The spec in one string (defaults filled in): two specs that quantize alike have the same key. The cache keys its
 *  entries by it and the loader compares a stored model's spec with the requested one by it. */
export function specKey(spec: QuantSpec): string {
  return [spec.codebook, spec.bits, spec.groupSize, spec.calibrate ?? 'none', spec.doubleQuant ? 'dq' : 'f32'].join('-');
}

export function validateSpec(spec: QuantSpec, what = 'quant spec'): void {
  if (spec.codebook !== 'int' && spec.codebook !== 'nf') {
    throw new QuantFormatError(`${what}: codebook must be 'int' or 'nf', got '${String(spec.codebook)}'`);
  }
  if (![2, 3, 4].includes(spec.bits)) throw new QuantFormatError(`${what}: bits must be 2, 3 or 4, got ${spec.bits}`);
  if (![32, 64, 128].includes(spec.groupSize)) {
    throw new QuantFormatError(`${what}: groupSize must be 32, 64 or 128, got ${spec.groupSize}`);
  }
  if (spec.calibrate !== undefined && spec.calibrate !== 'none' && spec.calibrate !== 'icq') {
    throw new QuantFormatError(`${what}: calibrate must be 'none' or 'icq', got '${String(spec.calibrate)}'`);
  }
  if (spec.doubleQuant !== undefined && typeof spec.doubleQuant !== 'boolean') {
    throw new QuantFormatError(`${what}: doubleQuant must be true or false, got '${String(spec.doubleQuant)}'`);
  }
}

export function validateShape(out: number, inFeatures: number, spec: QuantSpec, tensor: string): void {
  if (!Number.isInteger(out) || !Number.isInteger(inFeatures) || out <= 0 || inFeatures <= 0) {
    throw new QuantFormatError(`${tensor}: shape [${out}, ${inFeatures}] is not a 2-D weight`);
  }
  if (inFeatures % spec.groupSize !== 0) {
    throw new QuantFormatError(
      `${tensor}: in features (${inFeatures}) are not divisible by the group size ${spec.groupSize}; choose a group size that divides ${inFeatures}`,
    );
  }
}

/**
 * NF levels for k bits, sorted ascending, normalised to [-1, 1]: 2^(k-1) positive normal quantiles
 * Φ⁻¹(linspace(NF_OFFSET, 0.5, 2^(k-1)+1)[:-1]), 2^(k-1)-1 negative ones from linspace(NF_OFFSET, 0.5,
 * 2^(k-1))[:-1], and 0 (QLoRA's asymmetric construction, which has an exact zero).
 */
export function nfLevels(bits: Bits): Float32Array {
  const half = 2 ** (bits - 1);
  const linspace = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
  const positive = linspace(NF_OFFSET, 0.5, half + 1).slice(0, -1).map(normalQuantile);
  const negative = linspace(NF_OFFSET, 0.5, half).slice(0, -1).map((p) => -normalQuantile(p));
  const values = [...positive, 0, ...negative].sort((a, b) => a - b);
  const max = Math.max(...values);
  return Float32Array.from(values.map((v) => v / max));
}

/** level[q] for a spec: q itself for int, the NF table for nf. */
export function codeLevels(spec: Pick<QuantSpec, 'codebook' | 'bits'>): Float32Array {
  return spec.codebook === 'nf' ? nfLevels(spec.bits) : Float32Array.from({ length: 2 ** spec.bits }, (_, q) => q);
}

/** Midpoints between consecutive levels: a value above k of them gets code k (ties go to the lower code). */
export function levelMidpoints(levels: Float32Array): Float32Array {
  return Float32Array.from({ length: levels.length - 1 }, (_, i) => (levels[i] + levels[i + 1]) / 2);
}

/** True storage cost per weight: the code bits plus the statistics (two f32, or two bytes and a share of the
 *  16-byte block parameters, per group). */
export function bitsPerWeight(spec: QuantSpec): number {
  const statBits = spec.doubleQuant ? 2 * 8 + (4 * 32) / DQ_BLOCK : 2 * 32;
  return spec.bits + statBits / spec.groupSize;
}

/** Double quantization of stats (f32 [groups, 2]) into packed codes and block parameters (layout above). */
export function doubleQuantizeStats(stats: Float32Array): { packed: Uint32Array; blocks: Float32Array } {
  const groups = stats.length / 2;
  const packed = new Uint32Array(Math.ceil(groups / 2));
  const blocks = new Float32Array(Math.ceil(groups / DQ_BLOCK) * 4);
  for (let b = 0; b * DQ_BLOCK < groups; b++) {
    const end = Math.min(groups, (b + 1) * DQ_BLOCK);
    for (let field = 0; field < 2; field++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let g = b * DQ_BLOCK; g < end; g++) {
        lo = Math.min(lo, stats[2 * g + field]);
        hi = Math.max(hi, stats[2 * g + field]);
      }
      const centre = Math.fround((lo + hi) / 2);
      const stepSize = Math.fround((hi - lo) / 254);
      blocks[4 * b + 2 * field] = centre;
      blocks[4 * b + 2 * field + 1] = stepSize;
      for (let g = b * DQ_BLOCK; g < end; g++) {
        const code = stepSize > 0 ? Math.max(-127, Math.min(127, Math.round((stats[2 * g + field] - centre) / stepSize))) : 0;
        packed[g >> 1] |= (code & 0xff) << (16 * (g & 1) + 8 * field);
      }
    }
  }
  return { packed, blocks };
}

/** The (s, o) pairs that double-quantized stats stand for, f32 [groups, 2], as the kernels compute them. */
export function dequantizeStats(packed: Uint32Array, blocks: Float32Array, groups: number): Float32Array {
  const stats = new Float32Array(2 * groups);
  for (let g = 0; g < groups; g++) {
    const b = Math.floor(g / DQ_BLOCK);
    for (let field = 0; field < 2; field++) {
      const code = (((packed[g >> 1] >>> (16 * (g & 1) + 8 * field)) & 0xff) << 24) >> 24;
      stats[2 * g + field] = blocks[4 * b + 2 * field] + Math.fround(blocks[4 * b + 2 * field + 1] * code);
    }
  }
  return stats;
}

export function wordsPerRow(inFeatures: number, bits: Bits): number {
  return (inFeatures / 32) * bits;
}

/** Packs codes [out, in] (one per byte, < 2^bits) into the layout above. */
export function packCodes(codes: Uint8Array, out: number, inFeatures: number, bits: Bits): Uint32Array {
  const words = new Uint32Array(out * wordsPerRow(inFeatures, bits));
  const blocks = inFeatures / 32;
  for (let r = 0; r < out; r++) {
    for (let b = 0; b < blocks; b++) {
      const base = (r * blocks + b) * bits;
      for (let j = 0; j < 32; j++) {
        const q = codes[r * inFeatures + b * 32 + j];
        if (bits === 4) words[base + (j >> 3)] |= q << (4 * (j & 7));
        else if (bits === 2) words[base + (j >> 4)] |= q << (2 * (j & 15));
        else {
          words[base + (j >> 4)] |= (q & 3) << (2 * (j & 15));
          words[base + 2] |= (q >> 2) << j;
        }
      }
    }
  }
  return words;
}

export function unpackCodes(words: Uint32Array, out: number, inFeatures: number, bits: Bits): Uint8Array {
  const codes = new Uint8Array(out * inFeatures);
  const blocks = inFeatures / 32;
  for (let r = 0; r < out; r++) {
    for (let b = 0; b < blocks; b++) {
      const base = (r * blocks + b) * bits;
      for (let j = 0; j < 32; j++) {
        let q: number;
        if (bits === 4) q = (words[base + (j >> 3)] >>> (4 * (j & 7))) & 15;
        else if (bits === 2) q = (words[base + (j >> 4)] >>> (2 * (j & 15))) & 3;
        else q = ((words[base + (j >> 4)] >>> (2 * (j & 15))) & 3) | (((words[base + 2] >>> j) & 1) << 2);
        codes[r * inFeatures + b * 32 + j] = q;
      }
    }
  }
  return codes;
}

/** ŵ[o, i] = s·level[q] + o for the whole matrix, in float32 (for references and fidelity numbers). */
export function dequantize(codes: Uint8Array, stats: Float32Array, out: number, inFeatures: number, spec: QuantSpec): Float32Array {
  const levels = codeLevels(spec);
  const groups = inFeatures / spec.groupSize;
  const w = new Float32Array(out * inFeatures);
  for (let r = 0; r < out; r++) {
    for (let i = 0; i < inFeatures; i++) {
      const g = r * groups + Math.floor(i / spec.groupSize);
      w[r * inFeatures + i] = Math.fround(stats[2 * g] * levels[codes[r * inFeatures + i]]) + stats[2 * g + 1];
    }
  }
  return w;
}
