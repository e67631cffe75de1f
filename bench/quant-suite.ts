// Benchmarks of the quantized kernels: decode GEMV bandwidth, GEMM forward and backward-input
// throughput against the f32 matmul on the same shapes, and quantization throughput with and without ICQ.
import type { Runtime, Step, Tensor } from '../src/gpu';
import { matmul } from '../src/matmul';
import { doubleQuantizeStats, freeQuantized, quantize, type Bits, type QuantizedWeight, type QuantSpec } from '../src/quant';
import { quantMatmul, quantMatmulBackward, type QuantMatmulOptions } from '../src/matmul';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { relativeError } from './selfcheck';
import type { SuiteScale } from './suite';


/** A weight of random codes and stats (speed does not depend on the values). */
export function randomWeight(rt: Runtime, out: number, inF: number, spec: QuantSpec, seed: number): QuantizedWeight {
  const words = out * (inF / 32) * spec.bits;
  const codes = new Uint32Array(seededUniforms(words, seed, 0, 1).map((v) => v * 4294967295));
  const stats = seededUniforms(out * (inF / spec.groupSize) * 2, seed + 1, 0.001, 0.01);
  const base = { name: `w${seed}`, spec, out, inFeatures: inF, codes: rt.upload(codes, [out, words / out], 'codes') };
  if (!spec.doubleQuant) return { ...base, stats: rt.upload(stats, [out, inF / spec.groupSize, 2], 'stats') };
  const { packed, blocks } = doubleQuantizeStats(stats);
  return { ...base, stats: rt.upload(packed, [packed.length], 'stats8'), statBlocks: rt.upload(blocks, [blocks.length / 4, 4], 'statBlocks') };
}

/** Bytes a GEMV must read: codes plus statistics (f32 pairs, or 8-bit pairs and 16 bytes per 256 groups). */
export const packedBytes = (w: Pick<QuantizedWeight, 'out' | 'inFeatures' | 'spec'>) => {
  const groups = w.out * (w.inFeatures / w.spec.groupSize);
  return (w.out * w.inFeatures * w.spec.bits) / 8 + (w.spec.doubleQuant ? groups * 2 + Math.ceil(groups / 256) * 16 : groups * 8);
};

/** GEMV (M = 1 unless given), cycling through enough weight copies that they do not fit in L2 (50 MB on the H100). */
async function gemvBench(
  rt: Runtime, out: number, inF: number, spec: QuantSpec, copyBandwidth: number | null,
  { lanesPerRow, l2Resident = false, kernel, timing = 'dispatch', iters, subgroups, unitsPerLane, M = 1, parts }: {
    lanesPerRow?: QuantMatmulOptions['lanesPerRow']; l2Resident?: boolean; kernel?: 'units' | 'quads'; iters?: number;
    subgroups?: boolean; unitsPerLane?: number; M?: number;
    /** The weight as stacked parts of these rows (q/k/v, gate/up: one launch, each part's outputs a block). */
    parts?: number[];
    /** dispatch: a timed pass per launch; stream: back-to-back launches in one pass, each to its own output
     *  (independent, like q/k/v); chain: the same, all into one output (a barrier between launches). */
    timing?: 'dispatch' | 'stream' | 'chain';
  } = {},
): Promise<BenchResult> {
  const probe = randomWeight(rt, out, inF, spec, 1);
  const copies = l2Resident ? 1 : Math.max(1, Math.ceil((256 * 2 ** 20) / packedBytes(probe)));
  const weights = [probe, ...Array.from({ length: copies - 1 }, (_, i) => randomWeight(rt, out, inF, spec, 2 + i))];
  const x = rt.upload(seededUniforms(M * inF, 9), [M, inF], 'x');
  const ys = Array.from({ length: timing === 'stream' ? copies : 1 }, () => rt.tensor([M, out], 'f32', 'y'));
  let next = 0;
  const t = await timeLaunch(rt, (step) => {
    const i = next++ % copies;
    return quantMatmul(rt, step, x, weights[i], ys[i % ys.length], { lanesPerRow, gemv: kernel, subgroups, unitsPerLane, parts });
  }, { iters: iters ?? Math.max(32, 4 * copies), reps: 5, stream: timing !== 'dispatch' });
  const bytes = packedBytes(probe);
  weights.forEach((w) => freeQuantized(rt, w));
  rt.free(x, ...ys);
  const gbps = bytes / t.seconds / 1e9;
  const variant = `${kernel ? ` ${kernel}` : ''}${lanesPerRow ? ` ${lanesPerRow} lanes/row` : ''}${subgroups === undefined ? '' : subgroups ? ' subgroup sums' : ' tree sums'}${unitsPerLane ? ` ${unitsPerLane} units/lane` : ''}${l2Resident ? ' one copy (L2-resident)' : ''}${timing === 'dispatch' ? '' : ` ${timing}`}${iters ? ` ×${iters}` : ''}${parts ? ` stacked ${parts.length} parts` : ''}`;
  const name = `gemv ${spec.codebook}${spec.bits} G=${spec.groupSize}${spec.doubleQuant ? ' DQ' : ''} M=${M}${variant} (codes+stats)`;
  return { ...result(name, `${out}×${inF}`, gbps, 'GB/s', copyBandwidth, t.seconds, t.timing), wallSeconds: t.wall };
}

/** A quantized GEMM benchmarked against the f32 matmul: its format (G = 64) and, optionally, a forced tiling. */
interface GemmVariant {
  bits: Bits;
  codebook?: QuantSpec['codebook'];
  doubleQuant?: boolean;
  tiling?: Tiling;
}

type Tiling = Pick<QuantMatmulOptions, 'tile' | 'tileN' | 'depth'>;
const tilingName = (t: Tiling) => `${t.tile ? ` tile ${t.tile}${t.tileN ? `×${t.tileN}` : ''}` : ''}${t.depth ? ` BK ${t.depth}` : ''}`;

async function gemmBench(
  rt: Runtime, M: number, out: number, inF: number, direction: 'forward' | 'backward', baseline: number,
  { bits, codebook = 'int', doubleQuant = false, tiling = {} }: GemmVariant,
): Promise<BenchResult> {
  const spec: QuantSpec = { codebook, bits, groupSize: 64, doubleQuant };
  const w = randomWeight(rt, out, inF, spec, 3);
  const [rows, cols] = direction === 'forward' ? [inF, out] : [out, inF];
  const a = rt.upload(seededUniforms(M * rows, 4), [M, rows], 'a');
  const c = rt.tensor([M, cols], 'f32', 'c');
  const record = direction === 'forward'
    ? (step: Parameters<typeof quantMatmul>[1]) => quantMatmul(rt, step, a, w, c, tiling)
    : (step: Parameters<typeof quantMatmul>[1]) => quantMatmulBackward(rt, step, a, w, c, tiling);
  const t = await timeLaunch(rt, record, { iters: 10, reps: 3 });
  freeQuantized(rt, w);
  rt.free(a, c);
  const tflops = (2 * M * out * inF) / t.seconds / 1e12;
  const variant = `${doubleQuant ? ' DQ' : ''}${tilingName(tiling)}`;
  return result(`${direction === 'forward' ? 'X·Ŵᵀ' : 'dY·Ŵ'} ${codebook}${bits} G=64${variant} (ratio: vs f32 matmul)`, `M=${M} ${out}×${inF}`, tflops, 'TFLOP/s', baseline, t.seconds, t.timing);
}

export async function f32Baseline(rt: Runtime, M: number, out: number, inF: number, direction: 'forward' | 'backward', tiling: Tiling = {}): Promise<BenchResult> {
  const W: Tensor = rt.upload(seededUniforms(out * inF, 5), [out, inF], 'W');
  const [rows, cols] = direction === 'forward' ? [inF, out] : [out, inF];
  const a = rt.upload(seededUniforms(M * rows, 6), [M, rows], 'a');
  const c = rt.tensor([M, cols], 'f32', 'c');
  const t = await timeLaunch(rt, (step) => matmul(rt, step, a, W, c, { transB: direction === 'forward', ...tiling }), { iters: 10, reps: 3 });
  rt.free(W, a, c);
  return result(`f32 matmul ${direction === 'forward' ? 'X·Wᵀ' : 'dY·W'}${tilingName(tiling)}`, `M=${M} ${out}×${inF}`, (2 * M * out * inF) / t.seconds / 1e12, 'TFLOP/s', null, t.seconds, t.timing);
}

/** Results pushed as they come and logged, for the suites below. */
export function collector(log: (r: BenchResult) => void) {
  const results: BenchResult[] = [];
  const add = (r: BenchResult) => {
    results.push(r);
    log(r);
    return r;
  };
  return { results, add };
}

/** A GEMV variant's output (record(step, 0) run once, `out` read back) with a note when it strays from `reference`
 *  (the first variant's output, kept by the caller), and its time over the weight copies as a stream, like the
 *  suite: for the suites that compare kernel variants in one process. */
export async function checkedStreamTime(
  rt: Runtime, record: (step: Step, copy: number) => void, copies: number, out: Tensor, reference: Float32Array | null, tolerance: number,
) {
  const check = rt.step();
  record(check, 0);
  check.submit();
  const y = (await rt.read(out)) as Float32Array;
  const rel = reference ? relativeError(y, reference) : 0;
  const note = rel < tolerance ? '' : ` MISMATCH rel ${rel.toExponential(2)}`;
  let next = 0;
  const t = await timeLaunch(rt, (step: Step) => {
    record(step, next++ % copies);
    return Promise.resolve();
  }, { iters: rt.isCpuAdapter ? 2 : 4 * copies, reps: rt.isCpuAdapter ? 1 : 5, stream: true });
  return { y, note, t };
}

/** For each direction, M and shape: the f32 matmul (default tiling), then each f32 tiling and each quantized
 *  variant against it. */
async function gemmRows(
  rt: Runtime, ms: number[], shapes: [number, number][], variants: GemmVariant[], add: (r: BenchResult) => BenchResult,
  f32Tilings: Tiling[] = [],
) {
  for (const direction of ['forward', 'backward'] as const) {
    for (const M of ms) {
      for (const [out, inF] of shapes) {
        const base = add(await f32Baseline(rt, M, out, inF, direction));
        for (const t of f32Tilings) {
          const r = await f32Baseline(rt, M, out, inF, direction, t);
          add({ ...r, name: `${r.name} (ratio: vs default tiling)`, ceiling: base.value, ratio: r.value / base.value });
        }
        for (const v of variants) add(await gemmBench(rt, M, out, inF, direction, base.value, v));
      }
    }
  }
}

async function quantizeBench(rt: Runtime, n: number, spec: QuantSpec): Promise<BenchResult> {
  const W = rt.upload(seededUniforms(n * n, 7, -0.05, 0.05), [n, n], 'W');
  const samples: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const q = await quantize(rt, W, spec, 'W');
    const dt = (performance.now() - t0) / 1000;
    if (i > 0) samples.push(dt);
    rt.free(q.codes, q.stats);
  }
  rt.free(W);
  samples.sort((a, b) => a - b);
  const s = samples[samples.length >> 1];
  const name = `quantize ${spec.codebook}${spec.bits} G=${spec.groupSize} ${spec.calibrate ?? 'none'} (wall, incl. validity readback)`;
  return result(name, `${n}×${n}`, (n * n) / s / 1e9, 'Gweights/s', null, s, 'wall');
}

const TUNING_SHAPES: [number, number][] = [[4096, 4096], [11008, 4096]];

/** Tile-depth sweep of the quantized GEMM (BENCH_SUITES=quanttune): does dequantization want another BK? */
export async function runQuantTuning(rt: Runtime, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  const variants = ([8, 16, 32] as const).map((depth): GemmVariant => ({ bits: 4, tiling: { tile: 8, depth } }));
  await gemmRows(rt, [2048], TUNING_SHAPES, variants, add);
  return results;
}

/** The quantized GEMM at M = 2048 against f32, int2/3/4 and nf4, forward and backward (BENCH_SUITES=gemm). */
export async function runGemmComparison(rt: Runtime, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  await gemmRows(rt, [2048], TUNING_SHAPES, [{ bits: 2 }, { bits: 3 }, { bits: 4 }, { bits: 4, codebook: 'nf' }], add);
  return results;
}

/** Rectangular workgroup tiles (128×64, 64×128) against the default square ones, f32 and quantized, at
 *  M = 512 and 2048 (BENCH_SUITES=gemmtiles). */
export async function runGemmTiles(rt: Runtime, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  const tilings: Tiling[] = [{ tile: 8, tileN: 4, depth: 16 }, { tile: 4, tileN: 8, depth: 16 }];
  const variants: GemmVariant[] = [
    { bits: 4 }, ...tilings.map((tiling): GemmVariant => ({ bits: 4, tiling })), { bits: 3 }, { bits: 3, tiling: tilings[0] },
  ];
  await gemmRows(rt, [512, 2048], [...TUNING_SHAPES, [4096, 11008]], variants, add, tilings);
  return results;
}

/** On this device, the two decode kernels against each other at 4096², M = 1 and 8 (the tests cover them
 *  against the reference on SwiftShader): the largest relative difference. */
async function gemvAgreement(rt: Runtime, spec: QuantSpec, units: QuantMatmulOptions = {}): Promise<BenchResult> {
  const w = randomWeight(rt, 4096, 4096, spec, 11);
  let worst = 0;
  for (const M of units.lanesPerRow ? [1, 2] : [1, 8]) { // explicit lanes: within workgroup memory at M = 2
    const x = rt.upload(seededUniforms(M * 4096, 12), [M, 4096], 'x');
    const [a, b] = [rt.tensor([M, 4096], 'f32', 'ya'), rt.tensor([M, 4096], 'f32', 'yb')];
    const step = rt.step();
    await quantMatmul(rt, step, x, w, a, { ...units, gemv: 'units' });
    await quantMatmul(rt, step, x, w, b, { gemv: 'quads' });
    step.submit();
    worst = Math.max(worst, relativeError(await rt.read(a), await rt.read(b)));
    rt.free(x, a, b);
  }
  freeQuantized(rt, w);
  const variant = Object.entries(units).map(([k, v]) => ` ${k} ${v}`).join('');
  const name = `gemv units${variant} vs quads ${spec.codebook}${spec.bits} G=${spec.groupSize}${spec.doubleQuant ? ' DQ' : ''} (relative difference)`;
  return result(name, `4096×4096 M=1,${units.lanesPerRow ? 2 : 8}`, worst, 'rel', null, 0, 'wall');
}

/** The decode GEMV's variants side by side (BENCH_SUITES=gemvtune): lanes per row, units per lane and chunk of
 *  X, sums through subgroups or workgroup memory, at int4 G64 M = 1 (stream) on the three shapes. */
export async function runGemvTuning(rt: Runtime, copyBandwidthGBs: number | null, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  const int4: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
  // An earlier kernel was 16 lanes, a chunk (and a barrier) per 16 units, tree sums.
  type Variant = Pick<QuantMatmulOptions, 'lanesPerRow' | 'subgroups' | 'unitsPerLane'>;
  const variants: Variant[] = [{ lanesPerRow: 16, subgroups: false, unitsPerLane: 1 }];
  for (const lanesPerRow of [4, 8, 16, 32] as const) {
    for (const unitsPerLane of [1, undefined]) variants.push({ lanesPerRow, subgroups: true, unitsPerLane });
  }
  for (const spec of [int4, { codebook: 'nf', bits: 3, groupSize: 32, doubleQuant: true }] as QuantSpec[]) {
    for (const v of variants) add(await gemvAgreement(rt, spec, v));
  }
  for (const [out, inF] of [[4096, 4096], [11008, 4096], [4096, 11008]] as [number, number][]) {
    for (const v of variants) add(await gemvBench(rt, out, inF, int4, copyBandwidthGBs, { kernel: 'units', timing: 'stream', ...v }));
    for (const subgroups of [false, true]) add(await gemvBench(rt, out, inF, int4, copyBandwidthGBs, { kernel: 'quads', timing: 'stream', subgroups }));
  }
  for (const spec of [
    { codebook: 'int', bits: 2, groupSize: 64 }, { codebook: 'int', bits: 3, groupSize: 64 }, { codebook: 'nf', bits: 4, groupSize: 64 },
  ] as QuantSpec[]) {
    for (const v of [variants[0], { subgroups: true }, { subgroups: true, unitsPerLane: 1 }]) add(await gemvBench(rt, 4096, 4096, spec, copyBandwidthGBs, { kernel: 'units', timing: 'stream', ...v }));
  }
  return results;
}

/** The decode GEMV with M = 1…8 rows of X (BENCH_SUITES=gemvrows): lanes per row at each M (int4 G64 4096², stream),
 *  and the default at M = 1 on the other two shapes. */
export async function runGemvRows(rt: Runtime, copyBandwidthGBs: number | null, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  const int4: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
  for (const [out, inF] of [[11008, 4096], [4096, 11008]]) add(await gemvBench(rt, out, inF, int4, copyBandwidthGBs, { timing: 'stream' }));
  for (const M of [1, 2, 4, 8]) {
    for (const lanesPerRow of [2, 4, 8, 16] as const) {
      try {
        add(await gemvBench(rt, 4096, 4096, int4, copyBandwidthGBs, { kernel: 'units', timing: 'stream', M, lanesPerRow }));
      } catch (e) {
        console.log(`M = ${M}, ${lanesPerRow} lanes: ${(e as Error).message}`);
      }
    }
  }
  return results;
}

/** The kernels suite's weight shapes (out × in): the issue's three on a GPU, one small one on a CPU adapter. */
const suiteShapes = (scale: SuiteScale): [number, number][] => (scale === 'gpu' ? [[4096, 4096], [11008, 4096], [4096, 11008]] : [[256, 256]]);

/** The decode GEMV rows of the kernels suite (BENCH_SUITES=gemv alone, for A/Bs): every format on the three shapes,
 *  int4 timed alone and through the quads kernel, L2-resident, stacked, and at M = 2, 4, 8. */
async function gemvSuiteRows(rt: Runtime, scale: SuiteScale, copyBandwidthGBs: number | null, add: (r: BenchResult) => BenchResult) {
  const shapes = suiteShapes(scale);
  // GEMVs as a forward runs them: back-to-back launches in one pass (each to its own output), clocks ramped. A CPU
  // adapter has no L2 worth defeating: one copy of the weight (else thousands of small copies, minutes each row).
  const stream = { timing: 'stream', l2Resident: scale === 'cpu' } as const;
  for (const [out, inF] of shapes) {
    for (const bits of [2, 3, 4] as Bits[]) add(await gemvBench(rt, out, inF, { codebook: 'int', bits, groupSize: 64 }, copyBandwidthGBs, stream));
    add(await gemvBench(rt, out, inF, { codebook: 'nf', bits: 4, groupSize: 64 }, copyBandwidthGBs, stream));
    add(await gemvBench(rt, out, inF, { codebook: 'nf', bits: 4, groupSize: 64, doubleQuant: true }, copyBandwidthGBs, stream));
  }
  // The same int4 GEMV timed alone (a pass per launch), the four-codes-at-a-time kernel, and an L2-resident weight.
  const int4: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
  for (const [out, inF] of shapes) {
    add(await gemvBench(rt, out, inF, int4, copyBandwidthGBs, { l2Resident: scale === 'cpu' }));
    add(await gemvBench(rt, out, inF, int4, copyBandwidthGBs, { ...stream, kernel: 'quads' }));
  }
  if (scale === 'gpu') add(await gemvBench(rt, shapes[0][0], shapes[0][1], int4, copyBandwidthGBs, { ...stream, l2Resident: true }));
  // Stacked weights as a 7B-shaped layer has them: q/k/v (3 × 4096 rows) and gate/up (2 × 11008) in one launch each,
  // against three / two launches of the parts above.
  const [h, inter] = scale === 'gpu' ? [4096, 11008] : [256, 512];
  add(await gemvBench(rt, 3 * h, h, int4, copyBandwidthGBs, { ...stream, parts: [h, h, h] }));
  add(await gemvBench(rt, 2 * inter, h, int4, copyBandwidthGBs, { ...stream, parts: [inter, inter] }));
  // Up to 8 rows of X take the GEMV too (GEMV_MAX_ROWS): the weight is still read once.
  for (const M of [2, 4, 8]) add(await gemvBench(rt, shapes[0][0], shapes[0][1], int4, copyBandwidthGBs, { ...stream, M }));
}

export async function runGemvSuite(rt: Runtime, scale: SuiteScale, copyBandwidthGBs: number | null, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  await gemvSuiteRows(rt, scale, copyBandwidthGBs, add);
  return results;
}

export async function runQuantSuite(rt: Runtime, scale: SuiteScale, copyBandwidthGBs: number | null, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  await gemvSuiteRows(rt, scale, copyBandwidthGBs, add);
  const ms = scale === 'gpu' ? [512, 2048] : [64];
  await gemmRows(rt, ms, suiteShapes(scale), [{ bits: 2 }, { bits: 3 }, { bits: 4 }, { bits: 4, doubleQuant: true }], add);
  await quantizeRows(rt, scale === 'gpu' ? 4096 : 256, [{ codebook: 'nf', bits: 4, groupSize: 64 }, { codebook: 'int', bits: 4, groupSize: 64 }], add);
  return results;
}

/** Quantization throughput of each format without and with ICQ on an n×n weight, and ICQ's time overhead. */
async function quantizeRows(rt: Runtime, n: number, specs: QuantSpec[], add: (r: BenchResult) => BenchResult) {
  for (const spec of specs) {
    const plain = add(await quantizeBench(rt, n, { ...spec, calibrate: 'none' }));
    const icq = add(await quantizeBench(rt, n, { ...spec, calibrate: 'icq' }));
    const format = `${spec.codebook}${spec.bits} G=${spec.groupSize}`;
    add(result(`ICQ time overhead ${format} (t_icq / t_plain − 1)`, `${n}×${n}`, icq.seconds / plain.seconds - 1, 'fraction', null, icq.seconds - plain.seconds, 'wall'));
  }
}

/** Quantization alone (BENCH_SUITES=quantize): nf and int at 2, 3, 4 bits and G = 32, 64, 128, plain and ICQ. */
export async function runQuantizeSuite(rt: Runtime, log: (r: BenchResult) => void): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  const specs: QuantSpec[] = [];
  for (const codebook of ['nf', 'int'] as const) {
    specs.push({ codebook, bits: 4, groupSize: 64 }, { codebook, bits: 3, groupSize: 32 }, { codebook, bits: 2, groupSize: 128 });
  }
  await quantizeRows(rt, 4096, specs, add);
  return results;
}
