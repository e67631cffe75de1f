// Matmuls with a quantized weight Ŵ [out, in], dequantized inside the kernels, never as a full matrix:
//   forward         Y[M, out] = X[M, in]·Ŵᵀ  — M ≤ 8: a decode GEMV, gemv_units.wgsl, gemv_slices.wgsl (M = 1)
//                                              or gemv.wgsl (its floor: the packed bytes);
//                                              larger M: matmul.wgsl with dequantizing B tiles
//   backward-input  dX[M, in] = dY[M, out]·Ŵ — matmul.wgsl, B untransposed
// All in shaders/matmul/, each kernel including dequant.wgsl (the weight's format) and what else it needs.
import type { Runtime, Step, Tensor } from '../gpu';
import { ShapeError } from '../gpu';
import { blockStarts, outputBlocks, rowView, type QuantizedWeight } from '../quant';
import { checkScale, gemmTiling, gemvKernel, gemvParams, recordGemm, type GemmTiles } from './launch';
import { DEFAULT_MATRIX_TILES, freeMatrixRows, onMatrixPath, prepareMatrixRows, recordMatrixGemm } from './matrix-units';
import { formatValues, weightBindings } from './quantized-format';

export interface QuantMatmulOptions {
  /** Add into the output instead of overwriting it. */
  accumulate?: boolean;
  /** Multiply the product by this before it is stored or added: Y = scale·X·Ŵᵀ (+ Y), dX = scale·dY·Ŵ (+ dX).
   *  A finite number; default 1. */
  scale?: number;
  /** Tiling of the GEMM path (see GemmTiles). */
  tile?: GemmTiles['tile'];
  tileN?: GemmTiles['tileN'];
  depth?: GemmTiles['depth'];
  /** Invocations of the decode GEMV that share one output row. 'quads': default rt.gemvLanes (32 on GPUs, 1 on
   *  CPU adapters); 'units': at most 32 (within the device's workgroup memory), default 8 (fewer where that does not fit). */
  lanesPerRow?: 1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 | 256;
  /** The decode kernel: 'units' (gemv_units.wgsl, 128-weight units, needs in % 128 = 0), 'slices'
   *  (gemv_slices.wgsl, X held in registers: M = 1, in % 128 = 0, in ≤ 16384, subgroups of at least 4) or 'quads'
   *  (gemv.wgsl, four codes at a time, any in). Default: 'slices' where it applies for 4-bit nf codes and 4-bit codes
   *  with double-quantized statistics at M = 1 and no 'units' option is given, else 'units' where it applies, else
   *  'quads'. */
  gemv?: 'units' | 'quads' | 'slices';
  /** 'slices' only: output rows per workgroup, a multiple of 4 up to 64 (default: slicesValues). */
  rowsPerWorkgroup?: number;
  /** 'units' only: 128-weight units each invocation takes per chunk of X staged in workgroup memory. Default:
   *  as many as the row has for it, within the device's workgroup memory. */
  unitsPerLane?: number;
  /** Sum a row's lanes with subgroup shuffles instead of a tree in workgroup memory. Default: when the device
   *  has the 'subgroups' feature and its smallest subgroup holds lanesPerRow invocations; true demands it. */
  subgroups?: boolean;
  /** M > 8 only: the f16 matrix units (src/matmul/matrix-units.ts) or not. Default: where the runtime's matmul
   *  path is 'f16-matrix' (rt.matmulPath) and no f32 tiling (tile, tileN, depth) is given; true demands it
   *  (a ShapeError where it cannot run). */
  matrix?: boolean;
  /** Ŵ is stacked from parts (stackQuantized) of these row counts: Y then holds each part's [M, rows] block
   *  after the other, so a part's output is one contiguous tensor (the same numbers as Y[:, part] otherwise). */
  parts?: readonly number[];
}

/** Whether the decode GEMV is gemv_slices.wgsl when the options do not say: at M = 1 for 4-bit nf codes and 4-bit
 *  codes with double-quantized statistics, whose decoding costs the most. H200 (BENCHMARKS.md, Decisions), mean of
 *  two timings, 4096² / 11008×4096 / 4096×11008 against gemv_units.wgsl: nf4 −7 / −7 / −12 %, nf4 DQ −14 / −7 / −18 %,
 *  int4 DQ −13 / −1 / −15 %; but int4 −2 / +16 / −1 %, int2 and int3 +6 to +51 %, nf2 and nf3 +4 to +32 %. */
function slicesByDefault(w: QuantizedWeight, options: QuantMatmulOptions): boolean {
  const unitsOptions = options.lanesPerRow !== undefined || options.unitsPerLane !== undefined || options.subgroups !== undefined;
  const heavyDecode = w.spec.bits === 4 && (w.spec.codebook === 'nf' || !!w.statBlocks);
  return options.gemv === undefined && !unitsOptions && heavyDecode;
}

/** gemv_slices.wgsl's template values when quantMatmul runs it (asked for, or by default where it can run at its
 *  own row count), else undefined; a ShapeError when it is asked for, or taken, and cannot run as the options say.
 *  The device limits are read once per call: this is on every decode step's recording path. */
function slicesFor(rt: Runtime, w: QuantizedWeight, M: number, options: QuantMatmulOptions, op: string): Record<string, number> | undefined {
  const asked = options.gemv === 'slices';
  if (!asked && !slicesByDefault(w, options)) return undefined;
  const shape = slicesValues(rt, w.out, w.inFeatures, M, { rows: options.rowsPerWorkgroup });
  if (!asked && 'why' in (options.rowsPerWorkgroup === undefined ? shape : slicesValues(rt, w.out, w.inFeatures, M))) return undefined;
  if ('why' in shape) throw new ShapeError(`${op}: the 'slices' GEMV ${shape.why}`);
  if (options.unitsPerLane !== undefined || options.lanesPerRow !== undefined || options.subgroups === false) {
    throw new ShapeError(`${op}: unitsPerLane, lanesPerRow and subgroups: false are not options of the 'slices' GEMV`);
  }
  return { ...formatValues(w, true), ...shape.values };
}

/** The largest M the GEMV path takes; above it the tiled GEMM is faster. */
export const GEMV_MAX_ROWS = 8;

/** How gemv_slices.wgsl is cut: output rows per workgroup (a multiple of 4 up to 64), 32-code blocks of K per
 *  invocation (1 or 2). */
export interface SlicesShape { rows?: number; blocksPerInvocation?: number }

/** gemv_slices.wgsl's template values for this weight, or why it cannot run it. An invocation per 32-code block of
 *  K by default (two where the device's workgroup size or memory does not allow that); 16 rows per workgroup, 32
 *  where that still makes 1024 groups of 32 invocations, about 8 per SM of an H200, which measured best: 32 rows at
 *  11008×4096 and 4096×11008, 16 at 4096² (32 rows there: 128 workgroups of 128, nf4 9.4 → 10.5 µs). */
export function slicesValues(rt: Runtime, out: number, inFeatures: number, M: number, shape: SlicesShape = {}): { values: Record<string, number> } | { why: string } {
  const blocks = inFeatures / 32;
  if (M !== 1) return { why: `takes M = 1, got ${M}` };
  if (inFeatures % 128 !== 0) return { why: `needs in % 128 = 0, got ${inFeatures}` };
  if (blocks > 512) return { why: `takes in ≤ 16384, got ${inFeatures}` };
  const sgMin = rt.subgroupMinSize;
  if (sgMin < 4) return { why: `needs subgroups of at least 4 invocations (${sgMin ? `the device's smallest has ${sgMin}` : "the device has no 'subgroups' feature"})` };
  const { maxComputeInvocationsPerWorkgroup: maxWg, maxComputeWorkgroupStorageSize: maxBytes } = rt.device.limits;
  const workgroup = (spl: number) => Math.max(32, Math.ceil(blocks / spl / 32) * 32);
  const bytes = (wg: number, rows: number) => 128 * wg + (4 * rows * wg) / sgMin + 64;
  const fits = (spl: number, rows: number) => workgroup(spl) <= maxWg && bytes(workgroup(spl), rows) <= maxBytes;
  const spl = shape.blocksPerInvocation ?? (fits(1, 64) ? 1 : 2);
  if (spl !== 1 && spl !== 2) return { why: `takes 1 or 2 blocks per invocation, got ${spl}` };
  const wg = workgroup(spl);
  const rows = shape.rows ?? (Math.ceil(out / 32) * (wg / 32) >= 1024 ? 32 : 16);
  if (!Number.isInteger(rows) || rows < 4 || rows > 64 || rows % 4 !== 0) return { why: `rowsPerWorkgroup must be a multiple of 4 from 4 to 64, got ${rows}` };
  if (!fits(spl, rows)) return { why: `needs ${wg} invocations and ${bytes(wg, rows)} bytes of workgroup memory for in = ${inFeatures}; the device has ${maxWg} and ${maxBytes}` };
  return { values: { WG: wg, SPL: spl, RI: rows / 4, SGMIN: sgMin, SUBGROUPS: 1 } };
}

/** Workgroup memory of gemv_units.wgsl: the staged X chunk (33 vec4 per unit) and its block sums (4 f32 per unit),
 *  the partial sums unless they are summed in subgroups, the level table. */
const unitsSharedBytes = (lanes: number, M: number, subgroups: boolean, upl = 1) => 544 * lanes * upl * M + (subgroups ? 0 : 1024 * M) + 64;

/** Units per lane and chunk: the requested number, or as many as a row has for each lane within workgroup memory. */
export function unitsPerLane(rt: Runtime, w: Pick<QuantizedWeight, 'inFeatures'>, M: number, lanes: number, subgroups: boolean, requested: number | undefined, op: string) {
  const limit = rt.device.limits.maxComputeWorkgroupStorageSize;
  if (requested !== undefined) {
    const bytes = unitsSharedBytes(lanes, M, subgroups, requested);
    if (!Number.isInteger(requested) || requested < 1 || bytes > limit) {
      throw new ShapeError(`${op}: unitsPerLane must be a whole number ≥ 1 within ${limit} bytes of workgroup memory; ${requested} at ${lanes} lanes and M = ${M} needs ${bytes}`);
    }
    return requested;
  }
  let upl = Math.ceil(w.inFeatures / 128 / lanes);
  while (upl > 1 && unitsSharedBytes(lanes, M, subgroups, upl) > limit) upl--;
  return upl;
}

/** Lanes per row of gemv_units.wgsl: 8, the fastest on the H100 at every M measured (M = 1: 4/8/16/32 lanes;
 *  M = 2, 4, 8: 2/4/8/16; BENCHMARKS.md), halved only while one unit per lane would not fit the device's
 *  workgroup memory. */
function unitsLanes(rt: Runtime, M: number, options: QuantMatmulOptions, op: string): number {
  const requested = options.lanesPerRow;
  const subgroupsFor = (lanes: number) => options.subgroups ?? rt.subgroupMinSize >= lanes;
  if (requested !== undefined) {
    const bytes = unitsSharedBytes(requested, M, subgroupsFor(requested));
    if (requested > 32 || bytes > rt.device.limits.maxComputeWorkgroupStorageSize) {
      throw new ShapeError(`${op}: the 'units' GEMV takes at most 32 lanes per row and ${rt.device.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory; ${requested} lanes at M = ${M} need ${bytes}`);
    }
    return requested;
  }
  if (rt.isCpuAdapter) return 1;
  let lanes = 8;
  while (lanes > 1 && unitsSharedBytes(lanes, M, subgroupsFor(lanes)) > rt.device.limits.maxComputeWorkgroupStorageSize) lanes /= 2;
  return lanes;
}

/** Whether a GEMV with `lanes` invocations per row sums them with subgroup shuffles. */
function useSubgroups(rt: Runtime, lanes: number, requested: boolean | undefined, op: string): boolean {
  const possible = rt.subgroupMinSize >= lanes;
  if (requested && !possible) {
    throw new ShapeError(`${op}: subgroups requested, but ${rt.subgroupMinSize ? `the device's smallest subgroup has ${rt.subgroupMinSize} invocations, fewer than ${lanes} lanes per row` : "the device has no 'subgroups' feature"}`);
  }
  return requested ?? possible;
}

function rowsOf(t: Tensor, cols: number, what: string, op: string): number {
  const rows = t.shape.length === 2 ? t.shape[0] : -1;
  if (rows < 1 || t.shape[1] !== cols || t.dtype !== 'f32') {
    throw new ShapeError(`${op}: ${what} '${t.label}' is ${t.dtype} [${t.shape}], expected f32 [M, ${cols}]`);
  }
  return rows;
}

/** Where each part of a stacked weight starts, checked against its rows. */
function partStarts(w: QuantizedWeight, parts: readonly number[], op: string): number[] {
  const sum = parts.reduce((a, b) => a + b, 0);
  if (parts.length < 1 || parts.length > 3 || parts.some((r) => !Number.isInteger(r) || r < 1) || sum !== w.out) {
    throw new ShapeError(`${op}: parts must be 1 to 3 whole row counts ≥ 1 adding up to the weight's ${w.out} rows, got [${parts}]`);
  }
  return blockStarts(parts);
}

/** The forward GEMM's B fetch (matmul.wgsl BLOCKB): a row's 32-code block and statistics once per 32 / BK tiles where
 *  that measured faster on an H200 (BENCHMARKS.md, Decisions): on 128×64 tiles (−1 to +9 % at
 *  M = 512, 1024 and 2048, most with DQ statistics) and on 64×64 tiles with DQ statistics (+3 to +6 %). Elsewhere a
 *  code word and statistics per tile: the block form lost up to 17 % on 128×128 tiles and 7 % on 64×64 ones. */
function forwardFetch(w: QuantizedWeight, { tile, tileN }: { tile: number; tileN: number }) {
  const block = tileN === 4 && (tile === 8 || !!w.statBlocks);
  return { ...formatValues(w, block), BLOCKB: +block };
}

/** Y[M, out] = scale·X[M, in]·Ŵᵀ (+ Y). */
export async function quantMatmul(rt: Runtime, step: Step, x: Tensor, w: QuantizedWeight, y: Tensor, options: QuantMatmulOptions = {}) {
  const op = `quantMatmul(${w.name})`;
  const scale = checkScale(options.scale, 'scale', op);
  const M = rowsOf(x, w.inFeatures, 'input', op);
  if (rowsOf(y, w.out, 'output', op) !== M) throw new ShapeError(`${op}: output '${y.label}' has ${y.shape[0]} rows, input has ${M}`);
  const starts = options.parts ? partStarts(w, options.parts, op) : [0];
  if (await matrixForward(rt, step, x, w, y, M, starts, options, op)) return;
  if (M > GEMV_MAX_ROWS && options.parts && options.parts.length > 1) {
    // One GEMM per part, over row views of the weight and the part's block of Y.
    for (const { weight, out } of partOutputs(rt, w, y, options.parts, starts, op)) {
      await quantMatmul(rt, step, x, weight, out, { ...options, parts: undefined });
    }
    return;
  }
  const part = (i: number) => (i < starts.length ? starts[i] : w.out);
  const params = () => gemvParams({ M, N: w.out, K: w.inFeatures, accumulate: options.accumulate, part1: part(1), part2: part(2), scale });
  const slices = M <= GEMV_MAX_ROWS ? slicesFor(rt, w, M, options, op) : undefined;
  if (slices) {
    const kernel = await gemvKernel(rt, 'gemv_slices', slices);
    step.dispatch(kernel, params(), weightBindings(rt, x, w, y), [Math.ceil(w.out / (4 * slices.RI))], `gemv slices ${w.name}`);
    return;
  }
  if (options.rowsPerWorkgroup !== undefined) throw new ShapeError(`${op}: rowsPerWorkgroup needs the 'slices' GEMV`);
  if (M <= GEMV_MAX_ROWS) {
    const units = (options.gemv ?? 'units') === 'units' && w.inFeatures % 128 === 0;
    if (options.gemv === 'units' && !units) throw new ShapeError(`${op}: the 'units' GEMV needs in % 128 = 0, got ${w.inFeatures}`);
    const lanes = units ? unitsLanes(rt, M, options, op) : options.lanesPerRow ?? rt.gemvLanes;
    const subgroups = useSubgroups(rt, lanes, options.subgroups, op);
    if (!units && options.unitsPerLane !== undefined) throw new ShapeError(`${op}: unitsPerLane needs the 'units' GEMV`);
    const upl = units ? unitsPerLane(rt, w, M, lanes, subgroups, options.unitsPerLane, op) : 1;
    const values = { ...formatValues(w), LANES: lanes, MR: M, DENSE: 0, CODES4: +units, SUBGROUPS: +subgroups, UPL: upl };
    const kernel = await gemvKernel(rt, units ? 'gemv_units' : 'gemv', values);
    step.dispatch(kernel, params(), weightBindings(rt, x, w, y), [Math.ceil(w.out / (256 / lanes))], `gemv ${w.name} M=${M}`);
    return;
  }
  const dims = { M, N: w.out, K: w.inFeatures, batch: 1, strideB: 0 };
  const tiling = gemmTiling(dims, true, options);
  await recordGemm(
    rt, step, dims, weightBindings(rt, x, w, y), { TRANS_B: 1, QUANT: 1, ...forwardFetch(w, tiling) },
    { ...options, ...tiling, alpha: scale },
  );
}

/** Whether the GEMM of these shapes runs on the matrix units: as `options.matrix` says, else where the runtime's
 *  path is 'f16-matrix' and no f32 tiling is asked for. A ShapeError when demanded and impossible. */
function wantsMatrix(rt: Runtime, M: number, K: number, options: QuantMatmulOptions, op: string): boolean {
  const possible = onMatrixPath(rt, M, K, GEMV_MAX_ROWS);
  if (options.matrix && !possible) {
    throw new ShapeError(`${op}: the f16 matrix path needs M > ${GEMV_MAX_ROWS}, a reduction length that is a multiple of 4 and a device on it (M = ${M}, K = ${K}; ${rt.matmulPath.why})`);
  }
  const f32Tiling = options.tile !== undefined || options.tileN !== undefined || options.depth !== undefined;
  return options.matrix ?? (possible && !f32Tiling);
}

/** Each part of a (stacked) weight as a row view, with its block of Y, checked to start at a bindable offset; one part:
 *  the weight and Y themselves. */
function partOutputs(rt: Runtime, w: QuantizedWeight, y: Tensor, parts: readonly number[], starts: readonly number[], op: string) {
  if (parts.length === 1) return [{ weight: w, out: y }];
  const align = rt.device.limits.minStorageBufferOffsetAlignment;
  const blocks = outputBlocks(y, parts);
  return parts.map((rows, i) => {
    const offset = blocks[i].byteOffset;
    if (offset % align !== 0) throw new ShapeError(`${op}: part ${i}'s block of '${y.label}' starts at byte ${offset}, not a multiple of the device's minStorageBufferOffsetAlignment ${align}`);
    return { weight: rowView(rt, w, starts[i], rows, `${w.name}[${i}]`), out: blocks[i] };
  });
}

/** The forward on the matrix units, each part of a stacked weight into its block of Y, the rows' f16 scales found
 *  once: false (nothing recorded) where it does not take that path or a kernel failed its first self-check. */
async function matrixForward(
  rt: Runtime, step: Step, x: Tensor, w: QuantizedWeight, y: Tensor, M: number, starts: readonly number[], options: QuantMatmulOptions, op: string,
) {
  if (!wantsMatrix(rt, M, w.inFeatures, options, op)) return false;
  const outputs = partOutputs(rt, w, y, options.parts ?? [w.out], starts, op);
  const rows = await prepareMatrixRows(rt, step, x, DEFAULT_MATRIX_TILES);
  try {
    for (const [i, { weight, out }] of outputs.entries()) {
      const dims = { M, N: weight.out, K: w.inFeatures };
      const recorded = await recordMatrixGemm(rt, step, dims, weight, rows, out, { transB: true, alpha: options.scale, accumulate: options.accumulate });
      if (!recorded) {
        if (i > 0) throw new Error(`${op}: the f16 matrix path was turned off between two parts of one weight`);
        return false;
      }
    }
    return true;
  } finally {
    freeMatrixRows(rt, rows);
  }
}

/** The backward's workgroups go in groups of this many M-blocks (matmul.wgsl MGROUP): 4096×11008 at M = 2048
 *  0.82 → 0.85 of f32 on the H100, the other shapes within ±1 %; the forward lost 6 % at 4096² that way and keeps
 *  grid order. */
export const BACKWARD_MGROUP = 4;

/** Whether the backward's B tiles take their group statistics from workgroup memory, each loaded once per tile
 *  (matmul.wgsl SHAREDSTATS), rather than once per slot. On H200s (BENCHMARKS.md, Decisions),
 *  without DQ statistics: 128×64 tiles (M = 512 and 1024 here) +0 to +9 % depending on the machine, 64×64 (M = 256
 *  at 4096²) +1 to +11 %; one loss, M = 256 at 4096×11008: int3 and nf4 −15 % (int2 and int4 +6 %), where 344
 *  workgroups fill two or three per SM by register count (and flip between runs). With DQ statistics −4 to +3 %,
 *  and on 128×128 tiles at K-depth 8 (M = 2048) −13 to +5 % by machine, mostly losses: those keep a load per slot. */
export function backwardSharedStats(w: Pick<QuantizedWeight, 'statBlocks'>, { tileN }: { tileN: number }): boolean {
  return tileN === 4 && !w.statBlocks;
}

/** dX[M, in] = scale·dY[M, out]·Ŵ (+ dX). */
export async function quantMatmulBackward(rt: Runtime, step: Step, dy: Tensor, w: QuantizedWeight, dx: Tensor, options: QuantMatmulOptions = {}) {
  const op = `quantMatmulBackward(${w.name})`;
  const scale = checkScale(options.scale, 'scale', op);
  const M = rowsOf(dy, w.out, 'output gradient', op);
  if (rowsOf(dx, w.inFeatures, 'input gradient', op) !== M) throw new ShapeError(`${op}: '${dx.label}' has ${dx.shape[0]} rows, '${dy.label}' has ${M}`);
  if (wantsMatrix(rt, M, w.out, options, op)) {
    const rows = await prepareMatrixRows(rt, step, dy, DEFAULT_MATRIX_TILES);
    try {
      const dims = { M, N: w.inFeatures, K: w.out };
      if (await recordMatrixGemm(rt, step, dims, w, rows, dx, { transB: false, alpha: scale, accumulate: options.accumulate })) return;
    } finally {
      freeMatrixRows(rt, rows);
    }
  }
  const dims = { M, N: w.inFeatures, K: w.out, batch: 1, strideB: 0 };
  const tiling = gemmTiling(dims, true, options);
  const variant = { TRANS_B: 0, QUANT: 1, MGROUP: BACKWARD_MGROUP, SHAREDSTATS: +backwardSharedStats(w, tiling), ...formatValues(w) };
  await recordGemm(rt, step, dims, weightBindings(rt, dy, w, dx), variant, { ...options, ...tiling, alpha: scale });
}
