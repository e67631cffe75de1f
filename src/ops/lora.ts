// LoRA's small-rank products (shaders/lora.wgsl): a split-K product into a [·, r] or [r, ·] result, for r ≤ 64 a
// multiple of 4 and K long (hidden sizes, or the tokens of a batch), where square-matmul tiles would leave most of
// the GPU idle. Each of the four products addresses its operands by strides, transposing nothing.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, ShapeError, Uniforms } from '../gpu';
import code from '../../shaders/lora.wgsl?raw';
import { grid1d } from './grid';

/** Ranks the split-K kernel takes; others go through the f32 matmul. */
export function lowRankKernelFits(rank: number): boolean {
  return rank >= 4 && rank <= 64 && rank % 4 === 0;
}

interface Product {
  M: number;
  R: number;
  K: number;
  /** P(m, k) = P[m·pm + k·pk], Q(k, j) = Q[⌊k / qGroup⌋·qk + j·qj], C(m, j) = C[m·cm + j·cj]. */
  pm: number; pk: number; qk: number; qj: number; cm: number; cj: number;
  qGroup?: number;
}

/** Workgroups the partial kernel aims for (two per SM of a 132-SM GPU); K chunks are at least 64 deep. */
const TARGET_WORKGROUPS = 264;

async function lowRankProduct(rt: Runtime, step: Step, P: Tensor, Q: Tensor, C: Tensor, d: Product, alpha: number, accumulate: boolean, label: string) {
  if (!lowRankKernelFits(d.R)) throw new ShapeError(`${label}: rank ${d.R} is not a multiple of 4 in 4 … 64`);
  const rowBlocks = Math.ceil(d.M / 64);
  const chunks = Math.max(1, Math.min(Math.ceil(d.K / 64), Math.ceil(TARGET_WORKGROUPS / rowBlocks)));
  const chunk = Math.ceil(d.K / chunks / 16) * 16;
  const used = Math.ceil(d.K / chunk);
  const params = new Uniforms(16)
    .u32(d.M).u32(d.R).u32(d.K).u32(chunk).u32(d.pm).u32(d.pk).u32(d.qk).u32(d.qj)
    .u32(d.cm).u32(d.cj).u32(used).u32(accumulate ? 1 : 0).f32(alpha).u32(d.qGroup ?? 1).u32(0).u32(0).bytes;
  const part = rt.tensor([used, d.M, d.R], 'f32', `${label} partial sums`);
  try {
    step.dispatch(await rt.kernel({ shader: 'lora', code, entryPoint: 'partial' }), params, [P, Q, part], [rowBlocks, used], `${label} partial ${d.M}x${d.R}x${d.K}`);
    const groups = grid1d(Math.ceil((d.M * d.R) / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
    step.dispatch(await rt.kernel({ shader: 'lora', code, entryPoint: 'reduce' }), params, [part, C], groups, `${label} reduce ${d.M}x${d.R}`);
  } finally {
    rt.free(part); // later dispatches of the step may take it: they run after these
  }
}

/** h [N, r] = x [N, in]·Aᵀ (A [r, in]); with `groupSize` G, A is [r, in/G] and h = x̄·Aᵀ where x̄ [N, in/G] sums each
 *  group of G consecutive inputs (QA-LoRA), fused into the product. */
export async function loraDown(rt: Runtime, step: Step, x: Tensor, a: Tensor, h: Tensor, groupSize = 1) {
  const [r, cols] = a.shape;
  const [N, inF] = x.shape;
  if (cols * groupSize !== inF) throw new ShapeError(`loraDown: A '${a.label}' has ${cols} columns, x '${x.label}' ${inF} inputs in groups of ${groupSize}`);
  expectShape(h, [N, r], 'loraDown');
  await lowRankProduct(rt, step, x, a, h, { M: N, R: r, K: inF, pm: inF, pk: 1, qk: 1, qj: cols, cm: r, cj: 1, qGroup: groupSize }, 1, false, 'loraDown');
}

/** dh [N, r] = alpha · dy [N, out]·B (B [out, r]). */
export async function loraUpBackward(rt: Runtime, step: Step, dy: Tensor, b: Tensor, dh: Tensor, alpha: number) {
  const [out, r] = b.shape;
  const N = dy.shape[0];
  expectShape(dy, [N, out], 'loraUpBackward');
  expectShape(dh, [N, r], 'loraUpBackward');
  await lowRankProduct(rt, step, dy, b, dh, { M: N, R: r, K: out, pm: out, pk: 1, qk: r, qj: 1, cm: r, cj: 1 }, alpha, false, 'loraUpBackward');
}

/** dB [out, r] (+)= alpha · dyᵀ·h, summed over the N tokens (dy [N, out], h [N, r]). */
export async function loraGradB(rt: Runtime, step: Step, dy: Tensor, h: Tensor, dB: Tensor, alpha: number, accumulate: boolean) {
  const [N, out] = dy.shape;
  const r = h.shape[1];
  expectShape(h, [N, r], 'loraGradB');
  expectShape(dB, [out, r], 'loraGradB');
  await lowRankProduct(rt, step, dy, h, dB, { M: out, R: r, K: N, pm: 1, pk: out, qk: r, qj: 1, cm: r, cj: 1 }, alpha, accumulate, 'loraGradB');
}

/** dA [r, in] (+)= dhᵀ·x, summed over the N tokens (dh [N, r], x [N, in]). */
export async function loraGradA(rt: Runtime, step: Step, dh: Tensor, x: Tensor, dA: Tensor, accumulate: boolean) {
  const [N, inF] = x.shape;
  const r = dh.shape[1];
  expectShape(dh, [N, r], 'loraGradA');
  expectShape(dA, [r, inF], 'loraGradA');
  await lowRankProduct(rt, step, x, dh, dA, { M: inF, R: r, K: N, pm: 1, pk: inF, qk: r, qj: 1, cm: 1, cj: inF }, 1, accumulate, 'loraGradA');
}
