import { describe, expect, it } from 'vitest';
import {
  codeLevels, dequantizeStats, doubleQuantizeStats, entropyBits, freeQuantized, quantize, QuantFormatError, unpackCodes, type Bits,
  type QuantSpec,
} from '../../src/quant';
import { LimitError } from '../../src/gpu';
import { testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { quantizeRef } from './quantize.ref';

const SHAPE = { out: 6, inFeatures: 256 };

function weights(seed: number, n: number): Float32Array {
  // Normal weights with a per-row shift and a few outliers, as real layers have.
  const rng = new Rng(seed);
  const w = rng.normals(n, 0.02);
  for (let i = 0; i < n; i += 97) w[i] *= 8;
  for (let i = 0; i < n; i++) w[i] += 0.004 * Math.floor(i / SHAPE.inFeatures);
  return w;
}

function groupEntropies(codes: Uint8Array, spec: QuantSpec): number[] {
  const out: number[] = [];
  for (let start = 0; start < codes.length; start += spec.groupSize) {
    const counts = new Array(2 ** spec.bits).fill(0);
    for (let j = 0; j < spec.groupSize; j++) counts[codes[start + j]]++;
    out.push(entropyBits(counts));
  }
  return out;
}

async function gpuQuantize(w: Float32Array, spec: QuantSpec) {
  const rt = await testRuntime();
  const W = rt.upload(w, [SHAPE.out, SHAPE.inFeatures], 'w');
  const q = await quantize(rt, W, spec, 'w');
  const words = (await rt.read(q.codes)) as Uint32Array;
  const stats = (await rt.read(q.stats)) as Float32Array;
  rt.free(W);
  freeQuantized(rt, q);
  return { codes: unpackCodes(words, SHAPE.out, SHAPE.inFeatures, spec.bits), stats };
}

describe('GPU quantization equals the CPU reference', () => {
  let seed = 1;
  for (const codebook of ['int', 'nf'] as const) {
    for (const bits of [2, 3, 4] as Bits[]) {
      for (const groupSize of [32, 64, 128] as const) {
        for (const calibrate of ['none', 'icq'] as const) {
          const spec: QuantSpec = { codebook, bits, groupSize, calibrate };
          const s = seed++;
          it(`${codebook}${bits} G=${groupSize} ${calibrate}: identical codes and stats`, async () => {
            const w = weights(s, SHAPE.out * SHAPE.inFeatures);
            const got = await gpuQuantize(w, spec);
            const want = quantizeRef(w, SHAPE.out, SHAPE.inFeatures, spec);
            expect(got.codes).toEqual(want.codes);
            expect(got.stats).toEqual(want.stats);
          });
        }
      }
    }
  }
});

describe('GPU quantization equals the CPU reference on tied weights', () => {
  // Weights on a coarse grid (many ties), one group all equal, one of +0 and −0: the sort's tie order and
  // the thresholds' binary search at its ends.
  function tied(seed: number): Float32Array {
    const w = weights(seed, SHAPE.out * SHAPE.inFeatures).map((v) => Math.round(v * 200) / 200);
    w.fill(0.0125, 0, 128);
    for (let i = 128; i < 256; i++) w[i] = i % 3 ? 0 : -0;
    return w;
  }
  for (const codebook of ['int', 'nf'] as const) {
    for (const bits of [2, 4] as Bits[]) {
      for (const calibrate of ['none', 'icq'] as const) {
        const spec: QuantSpec = { codebook, bits, groupSize: 32, calibrate };
        it(`${codebook}${bits} G=32 ${calibrate}: identical codes and stats`, async () => {
          const w = tied(bits * 10 + (codebook === 'nf' ? 1 : 0));
          const got = await gpuQuantize(w, spec);
          const want = quantizeRef(w, SHAPE.out, SHAPE.inFeatures, spec);
          expect(got.codes).toEqual(want.codes);
          expect(got.stats).toEqual(want.stats);
        });
      }
    }
  }
});

describe('double quantization of the statistics', () => {
  it('GPU quantize with doubleQuant stores the reference stats as 8-bit codes and block parameters', async () => {
    const rt = await testRuntime();
    // 3000 groups: more than one 256-group block, and an odd last block.
    const [out, inFeatures] = [375, 256];
    const spec: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 32, calibrate: 'icq', doubleQuant: true };
    const w = new Rng(77).normals(out * inFeatures, 0.03);
    const W = rt.upload(w, [out, inFeatures], 'w');
    const q = await quantize(rt, W, spec, 'w');
    const want = doubleQuantizeStats(quantizeRef(w, out, inFeatures, spec).stats);
    expect(q.stats.dtype).toBe('u32');
    expect(await rt.read(q.stats)).toEqual(want.packed);
    expect(await rt.read(q.statBlocks!)).toEqual(want.blocks);
    rt.free(W);
    freeQuantized(rt, q);
  });

  it('reconstructs each statistic within half a code step of its block', () => {
    const rng = new Rng(5);
    const groups = 700;
    const stats = new Float32Array(2 * groups);
    for (let g = 0; g < groups; g++) {
      stats[2 * g] = 0.01 + 0.05 * rng.next();
      stats[2 * g + 1] = 0.002 * rng.normal();
    }
    const { packed, blocks } = doubleQuantizeStats(stats);
    const back = dequantizeStats(packed, blocks, groups);
    for (let g = 0; g < groups; g++) {
      const b = Math.floor(g / 256);
      for (const f of [0, 1]) expect(Math.abs(back[2 * g + f] - stats[2 * g + f])).toBeLessThanOrEqual(blocks[4 * b + 2 * f + 1] * 0.5 + 1e-9);
    }
    // A constant field (plain NF's zero offsets) is stored exactly.
    const zeros = doubleQuantizeStats(Float32Array.from({ length: 20 }, (_, i) => (i % 2 ? 0 : 0.5)));
    expect(dequantizeStats(zeros.packed, zeros.blocks, 10)).toEqual(Float32Array.from({ length: 20 }, (_, i) => (i % 2 ? 0 : 0.5)));
  });
});

describe('quantization quality', () => {
  it('round-to-nearest picks the nearest level', () => {
    const spec: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
    const w = weights(99, SHAPE.out * SHAPE.inFeatures);
    const { codes, stats } = quantizeRef(w, SHAPE.out, SHAPE.inFeatures, spec);
    const levels = codeLevels(spec);
    for (let i = 0; i < w.length; i++) {
      const g = Math.floor(i / 64);
      const x = w[i] / stats[2 * g];
      const dist = (q: number) => Math.abs(x - levels[q]);
      for (let q = 0; q < 16; q++) expect(dist(codes[i])).toBeLessThanOrEqual(dist(q) + 1e-6);
    }
  });

  it('int ICQ never lowers a group\'s code entropy (p = 1 is its first candidate)', () => {
    for (const bits of [2, 3, 4] as Bits[]) {
      const w = weights(7 + bits, SHAPE.out * SHAPE.inFeatures);
      const plain = quantizeRef(w, SHAPE.out, SHAPE.inFeatures, { codebook: 'int', bits, groupSize: 64 });
      const icq = quantizeRef(w, SHAPE.out, SHAPE.inFeatures, { codebook: 'int', bits, groupSize: 64, calibrate: 'icq' });
      const hp = groupEntropies(plain.codes, { codebook: 'int', bits, groupSize: 64 });
      const hi = groupEntropies(icq.codes, { codebook: 'int', bits, groupSize: 64 });
      hi.forEach((h, g) => expect(h).toBeGreaterThanOrEqual(hp[g] - 1e-9));
    }
  });

  it('nf ICQ raises the mean code entropy (per group it can fall: plain τ = 0 is not among its candidates)', () => {
    for (const bits of [2, 3, 4] as Bits[]) {
      const spec: QuantSpec = { codebook: 'nf', bits, groupSize: 64 };
      const w = weights(20 + bits, SHAPE.out * SHAPE.inFeatures);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const plain = mean(groupEntropies(quantizeRef(w, SHAPE.out, SHAPE.inFeatures, spec).codes, spec));
      const icq = mean(groupEntropies(quantizeRef(w, SHAPE.out, SHAPE.inFeatures, { ...spec, calibrate: 'icq' }).codes, spec));
      expect(icq).toBeGreaterThan(plain);
    }
  });
});

describe('quantize rejects bad input', () => {
  it('names the tensor and the row of a non-finite weight', async () => {
    const rt = await testRuntime();
    const w = weights(3, SHAPE.out * SHAPE.inFeatures);
    w[2 * SHAPE.inFeatures + 70] = Number.NaN;
    const W = rt.upload(w, [SHAPE.out, SHAPE.inFeatures], 'layers.3.self_attn.q_proj');
    const nf4dq = { codebook: 'nf', bits: 4, groupSize: 64, doubleQuant: true } as const;
    await expect(quantize(rt, W, nf4dq)).rejects.toThrow(QuantFormatError); // uploads the runtime's constant tables once
    const inUse = rt.pool.stats.bytesInUse;
    await expect(quantize(rt, W, nf4dq)).rejects.toThrow(QuantFormatError);
    expect(rt.pool.stats.bytesInUse).toBe(inUse); // codes, statistics and the flag went back to the pool
    await expect(quantize(rt, W, { codebook: 'nf', bits: 4, groupSize: 64 })).rejects.toThrow(
      /layers\.3\.self_attn\.q_proj: non-finite weight.*row 2, columns 64\.\.127/,
    );
    w[2 * SHAPE.inFeatures + 70] = Number.POSITIVE_INFINITY;
    rt.write(W, w);
    await expect(quantize(rt, W, { codebook: 'int', bits: 3, groupSize: 32 })).rejects.toThrow(QuantFormatError);
    rt.free(W);
  });

  it('a weight past maxStorageBufferBindingSize is a LimitError naming the limit and the tensor; nothing is kept', async () => {
    const rt = await testRuntime();
    const W = rt.tensor([4, 1024], 'f32', 'w');
    // A view claiming more rows than one binding holds: the check must come before any GPU work or allocation.
    const rows = Math.floor(rt.device.limits.maxStorageBufferBindingSize / 4096) + 1;
    const huge = { ...W, shape: [rows, 1024], label: 'model.embed_tokens.weight' };
    const inUse = rt.pool.stats.bytesInUse;
    const created = rt.pool.stats.created;
    const error = await quantize(rt, huge, { codebook: 'int', bits: 2, groupSize: 128 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitError);
    expect((error as Error).message).toMatch(/model\.embed_tokens\.weight.*maxStorageBufferBindingSize/);
    expect(rt.pool.stats.bytesInUse).toBe(inUse);
    expect(rt.pool.stats.created).toBe(created);
    rt.free(W);
  });

  it('rejects in features the group size does not divide', async () => {
    const rt = await testRuntime();
    const W = rt.tensor([4, 96], 'f32', 'w');
    await expect(quantize(rt, W, { codebook: 'int', bits: 4, groupSize: 64 })).rejects.toThrow(/not divisible by the group size 64/);
    rt.free(W);
  });
});
