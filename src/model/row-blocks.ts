// Weights larger than one buffer may be (the runtime's bufferLimits: 128 MiB per binding in a page that asks for
// nothing, up to a few GiB on desktop GPUs) split into row blocks, each its own buffers: the rows of an f32 weight
// upload block by block; a weight to be quantized uploads and quantizes block by block, and the quantized blocks are
// joined back into as few weights as the limits allow (most often one: the codes are an eighth of f32's bytes).
// Blocks start on rows where every buffer of the format begins afresh (rowQuantum), so blocks read one after another
// are exactly the whole weight's tensors.
import type { Runtime, Tensor } from '../gpu';
import { bufferLimit, LimitError, numel } from '../gpu';
import type { QuantizedWeight, QuantSpec } from '../quant';
import { DQ_BLOCK, freeQuantized, joinProblem, joinRows, partOffsets, quantize, quantizedShapes, rowQuantum } from '../quant';
import type { BlockedWeight, LinearWeight, WholeWeight } from './linear';
import { freeLinear, pieces } from './linear';

/** Row counts of consecutive blocks of `out` rows, each at most `limit` bytes at `bytesPerRow` and (but for the last)
 *  a multiple of `quantum` rows. A LimitError when even `quantum` rows are more than `limit`. */
export function blockRows(out: number, bytesPerRow: number, limit: number, quantum: number, what: string): number[] {
  const fit = Math.floor(limit / bytesPerRow / quantum) * quantum;
  if (fit < 1) throw new LimitError('maxStorageBufferBindingSize', quantum * bytesPerRow, limit, `${what}: one row block of ${quantum} row${quantum === 1 ? '' : 's'}`);
  const rows: number[] = [];
  for (let at = 0; at < out; at += fit) rows.push(Math.min(fit, out - at));
  return rows;
}

/** Rows per quantum of a split weight in `spec`: where blocks may also be joined on this device (rowQuantum) if such
 *  a block fits `limit` at `bytesPerRow`; otherwise the fewest rows that keep 8-bit statistics' blocks whole, so the
 *  blocks still read one after another as the whole (they then stay apart). */
function splitQuantum(rt: Runtime, spec: QuantSpec, inFeatures: number, bytesPerRow: number, limit: number): number {
  const joinable = rowQuantum(rt, { spec, inFeatures });
  if (joinable * bytesPerRow <= limit || !spec.doubleQuant) return joinable;
  const groups = inFeatures / spec.groupSize;
  let rows = 1;
  while ((rows * groups) % DQ_BLOCK !== 0) rows *= 2;
  return rows;
}

function blocked(name: string, out: number, inFeatures: number, parts: WholeWeight[]): LinearWeight {
  if (parts.length === 1) return parts[0];
  const starts: number[] = [];
  let at = 0;
  for (const p of parts) (starts.push(at), (at += p.out));
  return { kind: 'blocks', name, out, in: inFeatures, parts, starts } satisfies BlockedWeight;
}

/** An f32 weight [out, in] from host data, whole where it fits, in row blocks where not. */
export function uploadDense(rt: Runtime, data: Float32Array, out: number, inFeatures: number, name: string): LinearWeight {
  const rows = blockRows(out, 4 * inFeatures, bufferLimit(rt), 1, name);
  const parts: WholeWeight[] = [];
  let start = 0;
  try {
    for (const n of rows) {
      const weight = rt.upload(data.subarray(start * inFeatures, (start + n) * inFeatures), [n, inFeatures], rows.length > 1 ? `${name}[${start}:]` : name);
      parts.push({ kind: 'dense', name, out: n, in: inFeatures, weight });
      start += n;
    }
  } catch (e) {
    for (const p of parts) freeLinear(rt, p);
    throw e;
  }
  return blocked(name, out, inFeatures, parts);
}

/** Consecutive quantized blocks joined into as few weights as fit one buffer each (the blocks are freed). */
function joinWhileFits(rt: Runtime, blocks: QuantizedWeight[], name: string): QuantizedWeight[] {
  const joined: QuantizedWeight[] = [];
  let run: QuantizedWeight[] = [];
  const flush = () => {
    if (run.length === 1) joined.push(run[0]);
    else if (run.length > 1) joined.push(joinRows(rt, run, name).weight);
    run = [];
  };
  for (const b of blocks) {
    if (run.length && joinProblem(rt, [...run, b])) flush();
    run.push(b);
  }
  flush();
  return joined;
}

function asLinear(rt: Runtime, name: string, out: number, inFeatures: number, weights: QuantizedWeight[]): LinearWeight {
  return blocked(name, out, inFeatures, weights.map((weight) => ({ kind: 'quantized', name, out: weight.out, in: inFeatures, weight })));
}

/** A weight [out, in] quantized from f32 host data: uploaded (and quantized) whole where its f32 fits one buffer,
 *  otherwise in row blocks, then joined into as few weights as fit. */
export async function quantizeRows(rt: Runtime, data: Float32Array, out: number, inFeatures: number, spec: QuantSpec, name: string): Promise<LinearWeight> {
  const limit = bufferLimit(rt);
  const rows = blockRows(out, 4 * inFeatures, limit, splitQuantum(rt, spec, inFeatures, 4 * inFeatures, limit), name);
  const blocks: QuantizedWeight[] = [];
  let start = 0;
  try {
    for (const n of rows) {
      const f32 = rt.upload(data.subarray(start * inFeatures, (start + n) * inFeatures), [n, inFeatures], `${name} f32`);
      try {
        blocks.push(await quantize(rt, f32, spec, name));
      } finally {
        rt.free(f32);
      }
      start += n;
    }
    return asLinear(rt, name, out, inFeatures, joinWhileFits(rt, blocks.splice(0), name));
  } finally {
    for (const b of blocks) freeQuantized(rt, b);
  }
}

/** A dense weight on the GPU (whole or in blocks) quantized block by block (a tied LM head's copy of an f32
 *  embedding); the dense weight stays. */
export async function quantizeLinear(rt: Runtime, w: LinearWeight, spec: QuantSpec, name: string): Promise<LinearWeight> {
  const blocks: QuantizedWeight[] = [];
  try {
    for (const { part } of pieces(w)) {
      if (part.kind !== 'dense') throw new TypeError(`quantizeLinear: ${w.name} is already quantized`);
      blocks.push(await quantize(rt, part.weight, spec, name));
    }
    return asLinear(rt, name, w.out, w.in, joinWhileFits(rt, blocks.splice(0), name));
  } finally {
    for (const b of blocks) freeQuantized(rt, b);
  }
}

/** The host arrays of a stored quantized weight ([out, in] in `spec`: codes, stats and, 8-bit, statBlocks) uploaded
 *  whole where each fits one buffer, otherwise in row blocks. */
export function uploadQuantized(
  rt: Runtime, host: { codes: Uint32Array; stats: Float32Array | Uint32Array; statBlocks?: Float32Array }, spec: QuantSpec, out: number, inFeatures: number, name: string,
): LinearWeight {
  const w = { spec, inFeatures };
  const perRow = partOffsets(w, 1); // bytes of one row in each buffer; the codes' are the most
  const [bytes, limit] = [Math.max(perRow.codes, perRow.stats, perRow.statBlocks), bufferLimit(rt)];
  const rows = blockRows(out, bytes, limit, splitQuantum(rt, spec, inFeatures, bytes, limit), name);
  const base = name.replace(/\.weight$/, '');
  const uploaded: Tensor[] = [];
  const upload = (a: Float32Array | Uint32Array, fromBytes: number, shape: number[], what: string) => {
    const t = rt.upload(a.subarray(fromBytes / 4, fromBytes / 4 + numel(shape)), shape, `${base}.${what}`);
    uploaded.push(t);
    return t;
  };
  const parts: QuantizedWeight[] = [];
  let start = 0;
  try {
    for (const n of rows) {
      const from = partOffsets(w, start);
      const shapes = quantizedShapes(spec, n, inFeatures);
      const codes = upload(host.codes, from.codes, shapes.codes, 'codes');
      const stats = upload(host.stats, from.stats, shapes.stats, 'stats');
      const statBlocks = shapes.statBlocks && host.statBlocks ? upload(host.statBlocks, from.statBlocks, shapes.statBlocks, 'stat_blocks') : undefined;
      parts.push({ name, spec, out: n, inFeatures, codes, stats, ...(statBlocks ? { statBlocks } : {}) });
      start += n;
    }
  } catch (e) {
    rt.free(...uploaded);
    throw e;
  }
  return asLinear(rt, name, out, inFeatures, parts);
}
