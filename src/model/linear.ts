// A linear layer's frozen weight: quantized (fused dequant-matmul), dense f32 ([out, in], HF layout), or split into
// row blocks of either kind where the whole would exceed a buffer limit (row-blocks.ts); its forward and the backward
// to its input (no weight gradient: the base is frozen).
import type { Runtime, Step, Tensor } from '../gpu';
import { matmul, quantGather, quantMatmul, quantMatmulBackward } from '../matmul';
import { embeddingForward, placeColumns, takeColumns, type RowBlock } from '../ops';
import type { QuantizedWeight } from '../quant';
import { freeQuantized } from '../quant';

export type WholeWeight =
  | { readonly kind: 'quantized'; readonly name: string; readonly out: number; readonly in: number; readonly weight: QuantizedWeight }
  | { readonly kind: 'dense'; readonly name: string; readonly out: number; readonly in: number; readonly weight: Tensor };

/** Rows [starts[i], starts[i] + parts[i].out) of the weight are parts[i]. */
export interface BlockedWeight {
  readonly kind: 'blocks';
  readonly name: string;
  readonly out: number;
  readonly in: number;
  readonly parts: readonly WholeWeight[];
  readonly starts: readonly number[];
}

export type LinearWeight = WholeWeight | BlockedWeight;

/** The pieces of `w` with the rows each starts at (one, at 0, for a whole weight). */
export function pieces(w: LinearWeight): { part: WholeWeight; first: number; last: boolean }[] {
  if (w.kind !== 'blocks') return [{ part: w, first: 0, last: true }];
  return w.parts.map((part, i) => ({ part, first: w.starts[i], last: i === w.parts.length - 1 }));
}

async function wholeForward(rt: Runtime, step: Step, x: Tensor, w: WholeWeight, y: Tensor, accumulate: boolean, exact: boolean) {
  if (w.kind === 'quantized') return quantMatmul(rt, step, x, w.weight, y, { accumulate, ...(exact ? { matrix: false } : {}) });
  return matmul(rt, step, x, w.weight, y, { transB: true, accumulate });
}

async function wholeBackward(rt: Runtime, step: Step, dy: Tensor, w: WholeWeight, dx: Tensor, accumulate: boolean) {
  if (w.kind === 'quantized') return quantMatmulBackward(rt, step, dy, w.weight, dx, { accumulate });
  return matmul(rt, step, dy, w.weight, dx, { accumulate });
}

/** y [M, out] = x [M, in]·Wᵀ, or y += x·Wᵀ with `accumulate`. Row blocks each fill their columns of y. `exact`: a
 *  quantized weight on the f32 path, never the f16 matrix units (which round Ŵ to f16). */
export async function linearForward(rt: Runtime, step: Step, x: Tensor, w: LinearWeight, y: Tensor, accumulate = false, exact = false) {
  if (w.kind !== 'blocks') return wholeForward(rt, step, x, w, y, accumulate, exact);
  const M = x.shape[0];
  for (const { part, first } of pieces(w)) {
    const block = rt.tensor([M, part.out], 'f32', `${w.name} block output`);
    try {
      await wholeForward(rt, step, x, part, block, false, exact);
      await placeColumns(rt, step, block, y, first, accumulate);
    } finally {
      rt.free(block); // later dispatches of the step may take it: they run after these
    }
  }
}

/** dx [M, in] = dy [M, out]·W, or dx += dy·W with `accumulate`. Row blocks each read their columns of dy. */
export async function linearBackward(rt: Runtime, step: Step, dy: Tensor, w: LinearWeight, dx: Tensor, accumulate = false) {
  if (w.kind !== 'blocks') return wholeBackward(rt, step, dy, w, dx, accumulate);
  const M = dy.shape[0];
  for (const [i, { part, first }] of pieces(w).entries()) {
    const block = rt.tensor([M, part.out], 'f32', `${w.name} block gradient`);
    try {
      await takeColumns(rt, step, dy, first, block);
      await wholeBackward(rt, step, block, part, dx, accumulate || i > 0);
    } finally {
      rt.free(block); // later dispatches of the step may take it: they run after these
    }
  }
}

/** x [tokens, in] = the rows of the table (an embedding [vocab, hidden] in any form) named by ids (u32 [tokens]). */
export async function embedTokens(rt: Runtime, step: Step, ids: Tensor, table: LinearWeight, x: Tensor) {
  for (const { part, first, last } of pieces(table)) {
    const block: RowBlock = { first, last };
    if (part.kind === 'quantized') await quantGather(rt, step, ids, part.weight, x, block);
    else await embeddingForward(rt, step, ids, part.weight, x, block);
  }
}

export function freeLinear(rt: Runtime, w: LinearWeight) {
  for (const { part } of pieces(w)) {
    if (part.kind === 'quantized') freeQuantized(rt, part.weight);
    else rt.free(part.weight);
  }
}

/** The quantized weight of `w`, or of its first row block; null for a dense weight. Its spec is the whole's. */
export function firstQuantized(w: LinearWeight): QuantizedWeight | null {
  const [{ part }] = pieces(w);
  return part.kind === 'quantized' ? part.weight : null;
}
