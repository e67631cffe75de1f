// Batched f32 matmul: C = alpha · op(A) · op(B) (+ C), with op = transpose or not.
// The model needs A·Bᵀ (activations times an [out, in] weight), A·B, and Aᵀ·B (weight gradients).
import type { Runtime, Step, Tensor } from '../gpu';
import { ShapeError } from '../gpu';
import { checkScale, gemvKernel, gemvParams, recordGemm, type GemmTiles } from './launch';

/** Up to this many rows of A, A·Bᵀ runs as a GEMV (decode): one pass over B instead of 64-row tiles. */
export const DENSE_GEMV_MAX_ROWS = 8;

export interface MatmulOptions extends GemmTiles {
  transA?: boolean;
  transB?: boolean;
  /** C = alpha · op(A)·op(B): a finite number (a RangeError otherwise), default 1. */
  alpha?: number;
  /** C += alpha · op(A)·op(B) instead of C = ... */
  accumulate?: boolean;
}

/** Shape of op(A) [M, K] and op(B) [K, N], with a leading batch dimension or none. */
function dims(a: Tensor, b: Tensor, transA: boolean, transB: boolean) {
  if (a.shape.length !== b.shape.length || a.shape.length < 2 || a.shape.length > 3) {
    throw new ShapeError(`matmul: A '${a.label}' [${a.shape}] and B '${b.label}' [${b.shape}] must both be 2-D or both 3-D (batched)`);
  }
  const batched = a.shape.length === 3;
  const batch = batched ? a.shape[0] : 1;
  if (batched && b.shape[0] !== batch) throw new ShapeError(`matmul: batch sizes differ: A ${a.shape[0]}, B ${b.shape[0]}`);
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const [M, K] = transA ? [ca, ra] : [ra, ca];
  const [Kb, N] = transB ? [cb, rb] : [rb, cb];
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: op(A '${a.label}') is [${M}, ${K}], op(B '${b.label}') is [${Kb}, ${N}]`,
    );
  }
  for (const t of [a, b]) if (t.dtype !== 'f32') throw new ShapeError(`matmul: tensor '${t.label}' is ${t.dtype}, expected f32`);
  return { batched, batch, M, N, K };
}

export function matmulOutputShape(a: Tensor, b: Tensor, options: MatmulOptions = {}): number[] {
  const { batched, batch, M, N } = dims(a, b, !!options.transA, !!options.transB);
  return batched ? [batch, M, N] : [M, N];
}

/** Records C = alpha · op(A)·op(B) (+ C) into `step`. C must already have the output shape. */
export async function matmul(rt: Runtime, step: Step, a: Tensor, b: Tensor, c: Tensor, options: MatmulOptions = {}) {
  const transA = !!options.transA;
  const transB = !!options.transB;
  const { batched, batch, M, N, K } = dims(a, b, transA, transB);
  const expected = batched ? [batch, M, N] : [M, N];
  if (c.shape.length !== expected.length || c.shape.some((d, i) => d !== expected[i]) || c.dtype !== 'f32') {
    throw new ShapeError(`matmul: output '${c.label}' is ${c.dtype} [${c.shape}], expected f32 [${expected}]`);
  }
  const alpha = checkScale(options.alpha, 'alpha', 'matmul');
  const tiled = !!options.tile || !!options.tileN || !!options.depth;
  if (!batched && !transA && transB && M <= DENSE_GEMV_MAX_ROWS && K % 4 === 0 && !tiled) {
    const values = { LANES: rt.gemvLanes, MR: M, DENSE: 1, SUBGROUPS: +(rt.subgroupMinSize >= rt.gemvLanes) };
    const kernel = await gemvKernel(rt, 'gemv', values);
    const params = gemvParams({ M, N, K, accumulate: options.accumulate, scale: alpha });
    step.dispatch(kernel, params, [a, b, c], [Math.ceil(N / (256 / values.LANES))], `gemv dense ${M}x${N}x${K}`);
    return;
  }
  await recordGemm(rt, step, { M, N, K, batch, strideB: K * N }, [a, b, c], { TRANS_B: +transB, QUANT: 0 }, { ...options, transA });
}
