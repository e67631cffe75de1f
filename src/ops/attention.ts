// Causal grouped-query attention over a KV cache, the write of new keys/values into that cache, and the backward
// of attention over whole sequences (training).
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, renderWgsl, ShapeError, Uniforms, variantName } from '../gpu';
import code from '../../shaders/attention.wgsl?raw';
import backwardCode from '../../shaders/attention_backward.wgsl?raw';
import { grid1d } from './grid';

/** From this many new tokens per sequence (and head dimensions up to 128) attention runs tiled. */
export const TILED_ATTENTION_MIN_TOKENS = 8;
const TILED_MAX_HEAD_DIM = 128;

/** The shader with every template value set; only forward_tiled reads HEAD_DIM. */
function attentionKernel(rt: Runtime, entryPoint: string, headDim = 64) {
  const values = { HEAD_DIM: headDim };
  return rt.kernel({ shader: variantName('attention', values), code: () => renderWgsl('attention', code, values), entryPoint });
}

/** Where the T new tokens of each of B sequences sit in a cache of `capacity` rows. */
export interface AttentionWindow {
  batch: number;
  /** New tokens per sequence. */
  tokens: number;
  /** Cache rows already filled before these tokens. */
  past: number;
}

function params(w: AttentionWindow, hq: number, hkv: number, headDim: number, capacity: number) {
  return new Uniforms(8).u32(w.batch).u32(w.tokens).u32(hq).u32(hkv).u32(headDim).u32(w.past).u32(capacity).f32(1 / Math.sqrt(headDim)).bytes;
}

function cacheShape(cache: Tensor, w: AttentionWindow, op: string): [number, number, number] {
  expectShape(cache, [w.batch, -1, -1, -1], op);
  const [, hkv, capacity, headDim] = cache.shape;
  if (w.past + w.tokens > capacity) {
    throw new ShapeError(`${op}: ${w.past} cached + ${w.tokens} new tokens exceed the cache '${cache.label}' of ${capacity} rows`);
  }
  return [hkv, capacity, headDim];
}

/** Copies k, v [B·T, Hkv, D] into cache rows past … past+T−1 of kCache, vCache [B, Hkv, capacity, D]. */
export async function writeKv(rt: Runtime, step: Step, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, w: AttentionWindow) {
  const [hkv, capacity, headDim] = cacheShape(kCache, w, 'writeKv');
  expectShape(vCache, kCache.shape, 'writeKv');
  expectShape(k, [w.batch * w.tokens, hkv, headDim], 'writeKv');
  expectShape(v, k.shape, 'writeKv');
  const kernel = await attentionKernel(rt, 'write_kv');
  const groups = grid1d(Math.ceil((w.batch * w.tokens * hkv * headDim) / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, params(w, hkv, hkv, headDim, capacity), [k, v, kCache, vCache], groups, `writeKv ${w.batch}x${w.tokens}`);
}

/** Checks q, the caches and the mask of one attention call against each other; their head counts and sizes. */
function attentionShapes(q: Tensor, kCache: Tensor, vCache: Tensor, mask: Tensor, w: AttentionWindow, op: string) {
  const [hkv, capacity, headDim] = cacheShape(kCache, w, op);
  expectShape(vCache, kCache.shape, op);
  expectShape(q, [w.batch * w.tokens, -1, headDim], op);
  const hq = q.shape[1];
  if (hq % hkv !== 0) throw new ShapeError(`${op}: ${hq} query heads are not a multiple of ${hkv} KV heads`);
  if (headDim > 256) throw new ShapeError(`${op}: head dimension ${headDim} exceeds the kernel's 256`);
  expectShape(mask, [w.batch, capacity], op, 'u32');
  return { hq, hkv, capacity, headDim };
}

/**
 * out [B·T, Hq, D] = softmax(q·Kᵀ/√D + causal and padding mask)·V, per head, with KV head h / (Hq/Hkv).
 * mask: u32 [B, capacity], 1 for real tokens. Queries that see no key produce zeros.
 */
export async function attentionForward(
  rt: Runtime, step: Step, q: Tensor, kCache: Tensor, vCache: Tensor, mask: Tensor, out: Tensor, w: AttentionWindow,
) {
  const { hq, hkv, capacity, headDim } = attentionShapes(q, kCache, vCache, mask, w, 'attention');
  expectShape(out, q.shape, 'attention');
  if (w.tokens >= TILED_ATTENTION_MIN_TOKENS && headDim <= TILED_MAX_HEAD_DIM) {
    const kernel = await attentionKernel(rt, 'forward_tiled', headDim);
    step.dispatch(kernel, params(w, hq, hkv, headDim, capacity), [q, kCache, vCache, mask, out], [Math.ceil(w.tokens / 64), hq, w.batch], `attention tiled ${w.batch}x${w.tokens}x${hq}`);
    return;
  }
  const kernel = await attentionKernel(rt, 'forward');
  const groups = grid1d(w.batch * w.tokens * hq, rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, params(w, hq, hkv, headDim, capacity), [q, kCache, vCache, mask, out], groups, `attention ${w.batch}x${w.tokens}x${hq}`);
}

/** Rows of keys (backward_dq) or queries (backward_dkv) per tile in workgroup memory: two tiles of TILE × headDim
 *  f32 and TILE (L, Δ) pairs, the largest power of two up to 32 that fits the device's workgroup storage. */
function backwardTile(rt: Runtime, headDim: number): number {
  const bytes = rt.device.limits.maxComputeWorkgroupStorageSize;
  let tile = 32;
  while (tile > 1 && tile * (2 * headDim * 4 + 8) > bytes) tile /= 2;
  return tile;
}

export interface AttentionGradients {
  /** [B·T, Hq, D] */
  dq: Tensor;
  /** [B·T, Hkv, D], token layout (not the cache's). */
  dk: Tensor;
  dv: Tensor;
}

/**
 * Gradients of attentionForward over B whole sequences of T tokens (training: past 0, the sequences' keys and values
 * at cache rows 0 … T−1), given out = the forward's output and dout its gradient. Nothing of size [heads, T, T] is
 * made: scores are recomputed (shaders/attention_backward.wgsl). Scratch: `stats` [B, Hq, T, 2], and `shares`, two
 * [B·T, Hq, D] tensors for each query head's share of dk and dv (summed per KV head at the end).
 */
export async function attentionBackward(
  rt: Runtime, step: Step, q: Tensor, kCache: Tensor, vCache: Tensor, mask: Tensor, out: Tensor, dout: Tensor,
  stats: Tensor, shares: [Tensor, Tensor], grads: AttentionGradients, w: AttentionWindow,
) {
  if (w.past !== 0) throw new ShapeError(`attentionBackward: training attention starts at cache row 0, got past ${w.past}`);
  const { hq, hkv, capacity, headDim } = attentionShapes(q, kCache, vCache, mask, w, 'attentionBackward');
  for (const t of [out, dout, grads.dq]) expectShape(t, q.shape, 'attentionBackward');
  expectShape(stats, [w.batch, hq, w.tokens, 2], 'attentionBackward');
  for (const t of [grads.dk, grads.dv]) expectShape(t, [w.batch * w.tokens, hkv, headDim], 'attentionBackward');
  for (const t of shares) expectShape(t, q.shape, 'attentionBackward');
  const values = { HEAD_DIM: headDim, TILE: backwardTile(rt, headDim) };
  const spec = (entryPoint: string) => ({
    shader: variantName('attention_backward', values), code: () => renderWgsl('attention_backward', backwardCode, values), entryPoint,
  });
  const uniforms = params(w, hq, hkv, headDim, capacity);
  const blocks = Math.ceil(w.tokens / 64);
  const dqKernel = await rt.kernel(spec('backward_dq'));
  step.dispatch(dqKernel, uniforms, [q, kCache, vCache, mask, out, dout, grads.dq, stats], [blocks, hq, w.batch], `attention dq ${w.batch}x${w.tokens}x${hq}`);
  const dkvKernel = await rt.kernel(spec('backward_dkv'));
  step.dispatch(dkvKernel, uniforms, [q, kCache, vCache, mask, stats, dout, shares[0], shares[1]], [blocks, hq, w.batch], `attention dkv ${w.batch}x${w.tokens}x${hq}`);
  const reduceKernel = await rt.kernel(spec('reduce_kv'));
  const groups = grid1d(Math.ceil((w.batch * w.tokens * hkv * headDim) / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(reduceKernel, uniforms, [shares[0], shares[1], grads.dk, grads.dv], groups, `attention dkv reduce ${w.batch}x${w.tokens}x${hkv}`);
}
