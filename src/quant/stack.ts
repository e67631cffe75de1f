// Quantized weights with the same input and format stored as one, their rows one after another (q, k, v;
// gate, up), so a decode step reads them in one GEMV launch: a launch costs ~2–3 µs on the H100 whatever its
// size (BENCHMARKS.md), paid once instead of per weight. Each part stays usable on its own as a view.
import type { Runtime, Tensor } from '../gpu';
import { bufferLimit, numel } from '../gpu';
import { DQ_BLOCK, wordsPerRow, type QuantSpec } from './format';
import { QuantFormatError } from './errors';
import { freeQuantized, type QuantizedWeight } from './quantize';

export interface StackedWeight {
  /** All parts' rows in one weight, [Σ out, in]; it owns the buffers (freeQuantized frees them). */
  readonly weight: QuantizedWeight;
  /** Each part as a view into `weight`'s buffers, for the paths that take one part at a time. Never free these. */
  readonly parts: readonly QuantizedWeight[];
  /** Rows of each part, for quantMatmul's `parts` option. */
  readonly rows: readonly number[];
}

/** Where each of consecutive blocks of these sizes starts (the parts' first rows; their output blocks' columns). */
export function blockStarts(sizes: readonly number[]): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const n of sizes) {
    starts.push(at);
    at += n;
  }
  return starts;
}

/** Y [M, Σ sizes] as consecutive [M, size] blocks, the outputs of a stacked weight's parts: views of y's buffer. */
export function outputBlocks(y: Tensor, sizes: readonly number[]): Tensor[] {
  const M = y.shape[0];
  return blockStarts(sizes).map((start, i) => ({ ...y, byteOffset: y.byteOffset + M * start * 4, shape: [M, sizes[i]], label: `${y.label}[${i}]` }));
}

/** Where rows [start, start + rows) of `w` lie in its codes, stats and (DQ) statBlocks buffers, in bytes. */
export function partOffsets(w: Pick<QuantizedWeight, 'spec' | 'inFeatures'>, start: number) {
  const groups = start * (w.inFeatures / w.spec.groupSize);
  return {
    codes: start * wordsPerRow(w.inFeatures, w.spec.bits) * 4,
    stats: w.spec.doubleQuant ? groups * 2 : groups * 8,
    statBlocks: (groups / DQ_BLOCK) * 16,
    groups,
  };
}

/** Why rows [start, …) of a weight of this format cannot begin a view on this device, or null. */
function misalignment(rt: Runtime, w: Pick<QuantizedWeight, 'spec' | 'inFeatures'>, start: number): string | null {
  const align = rt.device.limits.minStorageBufferOffsetAlignment;
  const o = partOffsets(w, start);
  const bytes = w.spec.doubleQuant ? [o.codes, o.stats, o.statBlocks] : [o.codes, o.stats];
  if (w.spec.doubleQuant && o.groups % DQ_BLOCK !== 0) return `${o.groups} groups before row ${start} are not a multiple of the double-quantization block of ${DQ_BLOCK}`;
  if (bytes.some((b) => b % align !== 0)) return `row ${start} starts at byte offsets ${bytes.join(' / ')}, not multiples of the device's minStorageBufferOffsetAlignment ${align}`;
  return null;
}

/** The shapes of the codes, stats and (DQ) statBlocks tensors of a [rows, inFeatures] weight in `spec` (4-byte
 *  elements). */
export function quantizedShapes(spec: QuantSpec, rows: number, inFeatures: number): { codes: number[]; stats: number[]; statBlocks?: number[] } {
  const groups = (rows * inFeatures) / spec.groupSize;
  return {
    codes: [rows, wordsPerRow(inFeatures, spec.bits)],
    stats: spec.doubleQuant ? [Math.ceil(groups / 2)] : [rows, inFeatures / spec.groupSize, 2],
    ...(spec.doubleQuant ? { statBlocks: [Math.ceil(groups / DQ_BLOCK), 4] } : {}),
  };
}

/** Rows [start, start + rows) of `w` as a weight of their own, sharing its buffers. */
export function rowView(rt: Runtime, w: QuantizedWeight, start: number, rows: number, name: string): QuantizedWeight {
  const problem = misalignment(rt, w, start);
  if (problem) throw new QuantFormatError(`${w.name}: no view from ${name}: ${problem}`);
  const o = partOffsets(w, start);
  const view = (t: Tensor, from: number, shape: number[]): Tensor => ({ ...t, byteOffset: t.byteOffset + from, shape, label: `${t.label}[${name}]` });
  const shapes = quantizedShapes(w.spec, rows, w.inFeatures);
  return {
    name, spec: w.spec, out: rows, inFeatures: w.inFeatures,
    codes: view(w.codes, o.codes, shapes.codes),
    stats: view(w.stats, o.stats, shapes.stats),
    ...(w.statBlocks && shapes.statBlocks ? { statBlocks: view(w.statBlocks, o.statBlocks, shapes.statBlocks) } : {}),
  };
}

/** The fewest rows (a power of two) after which a weight of this format can start a view or a row block that joins
 *  its neighbours exactly: every buffer's offset aligned for this device and, with 8-bit statistics, whole
 *  double-quantization blocks. */
export function rowQuantum(rt: Runtime, w: Pick<QuantizedWeight, 'spec' | 'inFeatures'>): number {
  let rows = 1;
  while (misalignment(rt, w, rows)) rows *= 2;
  return rows;
}

/** Why `weights` cannot be stacked on this device (format, input size, alignment), or null. */
export function stackProblem(rt: Runtime, weights: readonly QuantizedWeight[]): string | null {
  if (weights.length < 2 || weights.length > 3) return `stacking takes 2 or 3 weights, got ${weights.length}`;
  return joinProblem(rt, weights);
}

/** Why `weights` cannot be joined into one weight, their rows one after another, on this device, or null. */
export function joinProblem(rt: Runtime, weights: readonly QuantizedWeight[]): string | null {
  const [first] = weights;
  const same = (a: QuantizedWeight) =>
    a.inFeatures === first.inFeatures && a.spec.codebook === first.spec.codebook && a.spec.bits === first.spec.bits &&
    a.spec.groupSize === first.spec.groupSize && !!a.spec.doubleQuant === !!first.spec.doubleQuant;
  const other = weights.find((w) => !same(w));
  if (other) return `'${other.name}' differs from '${first.name}' in input size or format`;
  for (const start of blockStarts(weights.map((w) => w.out)).slice(1)) {
    const problem = misalignment(rt, first, start);
    if (problem) return problem;
  }
  // Each part was bound on its own; all of them together may be more than one binding holds.
  const max = bufferLimit(rt);
  const shapes = quantizedShapes(first.spec, weights.reduce((a, w) => a + w.out, 0), first.inFeatures);
  const over = (['codes', 'stats', 'statBlocks'] as const).find((k) => shapes[k] && 4 * numel(shapes[k]) > max);
  if (over) return `the joined ${over} would be ${4 * numel(shapes[over]!)} bytes, more than one buffer holds here (${max})`;
  return null;
}

/**
 * Copies `weights` (same input size and format) into one stacked weight and frees them. Throws a
 * QuantFormatError (freeing nothing) when stackProblem names a reason.
 */
export function stackQuantized(rt: Runtime, weights: readonly QuantizedWeight[], name: string): StackedWeight {
  const problem = stackProblem(rt, weights);
  if (problem) throw new QuantFormatError(`stacking ${weights.map((w) => `'${w.name}'`).join(', ')} as '${name}': ${problem}`);
  return joinRows(rt, weights, name);
}

/** Copies `weights` into one weight, their rows one after another, and frees them; joinProblem must be null. */
export function joinRows(rt: Runtime, weights: readonly QuantizedWeight[], name: string): StackedWeight {
  const [first] = weights;
  const rows = weights.map((w) => w.out);
  const out = rows.reduce((a, b) => a + b, 0);
  const shapes = quantizedShapes(first.spec, out, first.inFeatures);
  const codes = rt.tensor(shapes.codes, 'u32', `${name}.codes`);
  const stats = first.spec.doubleQuant ? rt.tensor(shapes.stats, 'u32', `${name}.stats8`) : rt.tensor(shapes.stats, 'f32', `${name}.stats`);
  const statBlocks = shapes.statBlocks ? rt.tensor(shapes.statBlocks, 'f32', `${name}.statBlocks`) : undefined;
  const weight: QuantizedWeight = { name, spec: first.spec, out, inFeatures: first.inFeatures, codes, stats, ...(statBlocks ? { statBlocks } : {}) };
  const starts = blockStarts(rows);
  const step = rt.step();
  for (const [i, w] of weights.entries()) {
    const o = partOffsets(first, starts[i]);
    const end = partOffsets(first, starts[i] + w.out);
    step.copy(w.codes, { ...codes, byteOffset: codes.byteOffset + o.codes }, end.codes - o.codes);
    // DQ: a part's packed statistics may end in a half-used word; the next part starts on a block boundary.
    step.copy(w.stats, { ...stats, byteOffset: stats.byteOffset + o.stats }, Math.ceil((end.stats - o.stats) / 4) * 4);
    if (statBlocks && w.statBlocks) step.copy(w.statBlocks, { ...statBlocks, byteOffset: statBlocks.byteOffset + o.statBlocks }, Math.ceil((end.groups - o.groups) / DQ_BLOCK) * 16);
  }
  step.submit();
  for (const w of weights) freeQuantized(rt, w);
  const parts = weights.map((w, i) => rowView(rt, weight, starts[i], w.out, w.name));
  return { weight, parts, rows };
}
