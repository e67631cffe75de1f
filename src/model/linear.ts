// A linear layer's frozen weight: quantized (fused dequant-matmul) or dense f32 ([out, in], HF layout), its forward
// and the backward to its input (no weight gradient: the base is frozen).
import type { Runtime, Step, Tensor } from '../gpu';
import { matmul, quantGather, quantMatmul, quantMatmulBackward } from '../matmul';
import { embeddingForward } from '../ops';
import type { QuantizedWeight } from '../quant';
import { freeQuantized } from '../quant';

export type LinearWeight =
  | { readonly kind: 'quantized'; readonly name: string; readonly out: number; readonly in: number; readonly weight: QuantizedWeight }
  | { readonly kind: 'dense'; readonly name: string; readonly out: number; readonly in: number; readonly weight: Tensor };

/** y [M, out] = x [M, in]·Wᵀ, or y += x·Wᵀ with `accumulate`. */
export async function linearForward(rt: Runtime, step: Step, x: Tensor, w: LinearWeight, y: Tensor, accumulate = false) {
  if (w.kind === 'quantized') return quantMatmul(rt, step, x, w.weight, y, { accumulate });
  return matmul(rt, step, x, w.weight, y, { transB: true, accumulate });
}

/** dx [M, in] = dy [M, out]·W, or dx += dy·W with `accumulate`. */
export async function linearBackward(rt: Runtime, step: Step, dy: Tensor, w: LinearWeight, dx: Tensor, accumulate = false) {
  if (w.kind === 'quantized') return quantMatmulBackward(rt, step, dy, w.weight, dx, { accumulate });
  return matmul(rt, step, dy, w.weight, dx, { accumulate });
}

/** x [tokens, in] = the rows of the table (an embedding [vocab, hidden] in either form) named by ids (u32 [tokens]). */
export async function embedTokens(rt: Runtime, step: Step, ids: Tensor, table: LinearWeight, x: Tensor) {
  if (table.kind === 'quantized') return quantGather(rt, step, ids, table.weight, x);
  return embeddingForward(rt, step, ids, table.weight, x);
}

export function freeLinear(rt: Runtime, w: LinearWeight) {
  if (w.kind === 'quantized') freeQuantized(rt, w.weight);
  else rt.free(w.weight);
}
