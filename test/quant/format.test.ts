import { describe, expect, it } from 'vitest';
import {
  bitsPerWeight, icqIntFactors, icqNfFactors, ICQ_SIGMA, nfLevels, normalQuantile, packCodes, QuantFormatError,
  unpackCodes, validateShape, validateSpec, type Bits,
} from '../../src/quant';
import { Rng } from '../helpers/rng';

// bitsandbytes' NF4 table (float32), as QLoRA ships it.
const BNB_NF4 = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];

describe('NF levels', () => {
  it('NF4 equals the bitsandbytes table', () => {
    const levels = nfLevels(4);
    BNB_NF4.forEach((v, i) => expect(levels[i]).toBeCloseTo(v, 6));
  });

  it('NF2 and NF3 follow the same construction: ascending, from -1 to 1, with an exact zero', () => {
    for (const bits of [2, 3] as const) {
      const levels = Array.from(nfLevels(bits));
      expect(levels).toHaveLength(2 ** bits);
      expect(levels[0]).toBe(-1);
      expect(levels[levels.length - 1]).toBe(1);
      expect(levels.filter((v) => v === 0)).toHaveLength(1);
      for (let i = 1; i < levels.length; i++) expect(levels[i]).toBeGreaterThan(levels[i - 1]);
    }
  });

  it('the inverse normal CDF is accurate', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(ICQ_SIGMA).toBeCloseTo(0.5411, 4);
  });
});

describe('ICQ candidates', () => {
  it('NF: 103 factors from -0.1σ to +0.1σ', () => {
    const f = icqNfFactors();
    expect(f).toHaveLength(103);
    expect(f[0]).toBeCloseTo(-0.1 * ICQ_SIGMA, 7);
    expect(f[51]).toBeCloseTo(0, 7);
    expect(f[102]).toBeCloseTo(0.1 * ICQ_SIGMA, 7);
  });

  it('int: 101 range factors, 1 first', () => {
    const p = icqIntFactors();
    expect(p).toHaveLength(101);
    expect(p[0]).toBe(1);
    expect(Math.max(...p)).toBeCloseTo(1.1, 6);
    expect(Math.min(...p)).toBeCloseTo(0.9, 6);
  });
});

describe('packing', () => {
  for (const bits of [2, 3, 4] as Bits[]) {
    it(`${bits}-bit codes round-trip through exactly ${bits} bits per code`, () => {
      const [out, inF] = [5, 96];
      const rng = new Rng(bits);
      const codes = Uint8Array.from({ length: out * inF }, () => rng.int(0, 2 ** bits - 1));
      const words = packCodes(codes, out, inF, bits);
      expect(words.length * 32).toBe(out * inF * bits);
      expect(unpackCodes(words, out, inF, bits)).toEqual(codes);
    });
  }

  it('4-bit puts code j of a word at bits 4j (little-endian)', () => {
    const codes = Uint8Array.from({ length: 32 }, (_, j) => j % 16);
    expect(packCodes(codes, 1, 32, 4)[0]).toBe(0x76543210);
  });

  it('3-bit keeps the low two bits in two words and bit 2 of all 32 codes in a third', () => {
    const codes = new Uint8Array(32).fill(4);
    expect(Array.from(packCodes(codes, 1, 32, 3))).toEqual([0, 0, 0xffffffff]);
  });
});

describe('specs and shapes', () => {
  it('reports true bits per weight including two f32 statistics per group', () => {
    expect(bitsPerWeight({ codebook: 'nf', bits: 4, groupSize: 64 })).toBe(5);
    expect(bitsPerWeight({ codebook: 'int', bits: 2, groupSize: 128 })).toBe(2.5);
    expect(bitsPerWeight({ codebook: 'int', bits: 3, groupSize: 32 })).toBe(5);
    // Double quantization: two bytes per group plus 16 bytes per 256 groups.
    expect(bitsPerWeight({ codebook: 'nf', bits: 4, groupSize: 64, doubleQuant: true })).toBe(4 + 16.5 / 64);
  });

  it('rejects unsupported bits, group sizes, codebooks and calibrations by name', () => {
    expect(() => validateSpec({ codebook: 'nf', bits: 5 as Bits, groupSize: 64 })).toThrow(/bits must be 2, 3 or 4, got 5/);
    expect(() => validateSpec({ codebook: 'nf', bits: 4, groupSize: 48 as 64 })).toThrow(/groupSize must be 32, 64 or 128, got 48/);
    expect(() => validateSpec({ codebook: 'fp8' as 'nf', bits: 4, groupSize: 64 })).toThrow(QuantFormatError);
    expect(() => validateSpec({ codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'gptq' as 'icq' })).toThrow(/calibrate/);
  });

  it('rejects in features that the group size does not divide, naming the tensor', () => {
    expect(() => validateShape(8, 100, { codebook: 'int', bits: 4, groupSize: 32 }, 'layers.0.mlp.up_proj')).toThrow(
      /layers\.0\.mlp\.up_proj: in features \(100\) are not divisible by the group size 32/,
    );
  });
});
