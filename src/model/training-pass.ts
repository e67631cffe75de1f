// The LLaMA forward over a training batch, keeping what the backward needs, and the backward itself, each
// layer's backward beside its forward (llm.c's shape):
//   embed → N × (RMSNorm → q,k,v (+adapters) → RoPE → attention → o (+adapter) → residual
//               → RMSNorm → gate,up (+adapters) → SwiGLU → down (+adapter) → residual) → RMSNorm → LM head → loss
// The base is frozen: gradients flow through every op to the adapters' parameters and stop at the embedding.
// The LM head and the loss run in chunks of rows, each chunk's logits turned into their gradient in place, so
// [tokens, vocab] logits never live at once. With checkpointing only each layer's input is kept, and the layer's
// forward is recomputed (same dropout masks) just before its backward.
import type { AdapterPass, AdapterSaved } from '../adapters';
import type { Runtime, Step, Tensor } from '../gpu';
import { bufferLimit, reshape, ShapeError } from '../gpu';
import {
  attentionBackward, attentionForward, crossEntropyForward, crossEntropyForwardBackward, IGNORE_TARGET,
  rmsnormBackward, rmsnormForward, ropeBackward, ropeForward, rowSum, swigluBackward, swigluForward, writeKv,
} from '../ops';
import { embedTokens, linearBackward, linearForward } from './linear';
import { linearName, type LlamaModel } from './llama';
import type { LayerWeights, LinearKey } from './weights';

/** B sequences of T tokens, right-padded; targets already shifted (target[t] is the label of token t + 1). */
export interface TrainBatch {
  batch: number;
  tokens: number;
  ids: Uint32Array; // [B·T]
  /** [B·T]: the token each position must predict, IGNORE_TARGET where it is not scored. */
  targets: Uint32Array;
  /** [B·T]: 1 for real tokens, 0 for padding. */
  attentionMask: Uint32Array;
}

export interface TrainingPassOptions {
  /** false: the loss alone (evaluation); nothing is kept and no gradient is made. */
  backward: boolean;
  /** The loss gradient's scale: 1 / the scored tokens of the whole optimizer step (a token-weighted mean). */
  lossScale: number;
  /** Recompute each layer in the backward instead of keeping its activations. */
  checkpointing: boolean;
  /** Dropout masks of this micro-batch. */
  seed: number;
  /** Gradients are written by the first micro-batch of a step and added by the others. */
  firstMicroBatch: boolean;
  /** f32 [1]: receives this batch's summed loss (nats). */
  lossSum: Tensor;
}

/** Logits of at most this many bytes live at once (rows are taken 64 at a time, so views stay aligned). */
const LOGITS_CHUNK_BYTES = 64 << 20;

/** The scored tokens of a batch. */
export function scoredTokens(targets: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== IGNORE_TARGET) n++;
  return n;
}

/** Tensors a pass allocates, freed together at its end (and on any error), or one by one as soon as they are dead.
 *  Uploads are written in step order (Step.write), so several passes can share one step and its pooled buffers. */
class Scratch {
  private readonly live = new Set<Tensor>();
  constructor(private readonly rt: Runtime, private readonly step: Step) {}
  tensor(shape: number[], label: string, dtype: 'f32' | 'u32' = 'f32'): Tensor {
    const t = this.rt.tensor(shape, dtype, label);
    this.live.add(t);
    return t;
  }
  upload(data: Uint32Array, shape: number[], label: string): Tensor {
    const t = this.tensor(shape, label, 'u32');
    this.step.write(t, data);
    return t;
  }
  adopt(saved: AdapterSaved | null): void {
    for (const t of saved?.tensors ?? []) this.live.add(t);
  }
  /** Forget tensors that someone else (an adapter's backward) frees. */
  disown(saved: AdapterSaved): void {
    for (const t of saved.tensors) this.live.delete(t);
  }
  free(...ts: (Tensor | undefined)[]): void {
    for (const t of ts) {
      if (t && this.live.delete(t)) this.rt.free(t);
    }
  }
  freeAll(): void {
    this.rt.free(...this.live);
    this.live.clear();
  }
}

/** What a layer's backward needs of its forward. */
interface LayerActivations {
  xIn: Tensor; // [N, H] the layer's input (kept with checkpointing too)
  h1?: Tensor; // [N, H] RMSNorm(xIn)
  q?: Tensor; // [N, Hq, D] after RoPE
  kCache?: Tensor; // [B, Hkv, T, D] keys after RoPE
  vCache?: Tensor;
  attn?: Tensor; // [N, Hq·D] attention output
  xMid?: Tensor; // [N, H] after the attention residual
  h2?: Tensor; // [N, H] RMSNorm(xMid)
  gate?: Tensor; // [N, I]
  up?: Tensor;
  act?: Tensor; // [N, I] SwiGLU
  adapters: Map<LinearKey, AdapterSaved>;
}

interface PassContext {
  rt: Runtime;
  step: Step;
  model: LlamaModel;
  scratch: Scratch;
  pass: AdapterPass;
  B: number;
  T: number;
  positions: Tensor;
  rope: Tensor;
  mask: Tensor;
}

async function adapterForward(ctx: PassContext, layer: number, key: LinearKey, x: Tensor, y: Tensor, acts: LayerActivations) {
  const module = ctx.model.adapters?.get(linearName(layer, key));
  if (!module) return;
  const saved = await module.forward(ctx.pass, x, y);
  ctx.scratch.adopt(saved);
  if (saved) acts.adapters.set(key, saved);
}

async function adapterBackward(ctx: PassContext, layer: number, key: LinearKey, x: Tensor, dy: Tensor, dx: Tensor, acts: LayerActivations) {
  const saved = acts.adapters.get(key);
  if (!saved) return;
  ctx.scratch.disown(saved);
  acts.adapters.delete(key);
  await ctx.model.adapters!.get(linearName(layer, key))!.backward(ctx.pass, x, dy, dx, saved);
}

/** One decoder layer's forward from xIn; returns its output (a new tensor) and fills `acts`. */
async function layerForward(ctx: PassContext, l: number, w: LayerWeights, acts: LayerActivations): Promise<Tensor> {
  const { rt, step, model, scratch, B, T } = ctx;
  const c = model.config;
  const N = B * T;
  const [H, qd, kvd, I] = [c.hiddenSize, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediateSize];
  const eps = c.rmsNormEps;
  const window = { batch: B, tokens: T, past: 0 };

  const h1 = (acts.h1 = scratch.tensor([N, H], `L${l} h1`));
  await rmsnormForward(rt, step, acts.xIn, w.inputNorm, h1, eps);
  const q = scratch.tensor([N, qd], `L${l} q`);
  const k = scratch.tensor([N, kvd], `L${l} k`);
  const v = scratch.tensor([N, kvd], `L${l} v`);
  await linearForward(rt, step, h1, w.q, q);
  await linearForward(rt, step, h1, w.k, k);
  await linearForward(rt, step, h1, w.v, v);
  await adapterForward(ctx, l, 'q', h1, q, acts);
  await adapterForward(ctx, l, 'k', h1, k, acts);
  await adapterForward(ctx, l, 'v', h1, v, acts);
  const q3 = (acts.q = reshape(q, [N, c.heads, c.headDim]));
  const k3 = reshape(k, [N, c.kvHeads, c.headDim]);
  await ropeForward(rt, step, q3, ctx.positions, ctx.rope);
  await ropeForward(rt, step, k3, ctx.positions, ctx.rope);
  acts.kCache = scratch.tensor([B, c.kvHeads, T, c.headDim], `L${l} keys`);
  acts.vCache = scratch.tensor([B, c.kvHeads, T, c.headDim], `L${l} values`);
  await writeKv(rt, step, k3, reshape(v, k3.shape), acts.kCache, acts.vCache, window);
  scratch.free(k, v);
  const attn = (acts.attn = scratch.tensor([N, qd], `L${l} attention`));
  await attentionForward(rt, step, q3, acts.kCache, acts.vCache, ctx.mask, reshape(attn, q3.shape), window);

  const xMid = (acts.xMid = scratch.tensor([N, H], `L${l} residual mid`));
  step.copy(acts.xIn, xMid);
  await linearForward(rt, step, attn, w.o, xMid, true);
  await adapterForward(ctx, l, 'o', attn, xMid, acts);

  const h2 = (acts.h2 = scratch.tensor([N, H], `L${l} h2`));
  await rmsnormForward(rt, step, xMid, w.postNorm, h2, eps);
  const gate = (acts.gate = scratch.tensor([N, I], `L${l} gate`));
  const up = (acts.up = scratch.tensor([N, I], `L${l} up`));
  await linearForward(rt, step, h2, w.gate, gate);
  await linearForward(rt, step, h2, w.up, up);
  await adapterForward(ctx, l, 'gate', h2, gate, acts);
  await adapterForward(ctx, l, 'up', h2, up, acts);
  const act = (acts.act = scratch.tensor([N, I], `L${l} swiglu`));
  await swigluForward(rt, step, gate, up, act);

  const xOut = scratch.tensor([N, H], `L${l + 1} residual`);
  step.copy(xMid, xOut);
  await linearForward(rt, step, act, w.down, xOut, true);
  await adapterForward(ctx, l, 'down', act, xOut, acts);
  return xOut;
}

/** Frees everything of `acts` but the layer input. */
function dropActivations(ctx: PassContext, acts: LayerActivations) {
  const { scratch } = ctx;
  scratch.free(acts.h1, acts.q, acts.kCache, acts.vCache, acts.attn, acts.xMid, acts.h2, acts.gate, acts.up, acts.act);
  for (const saved of acts.adapters.values()) for (const t of saved.tensors) scratch.free(t);
  acts.adapters.clear();
  Object.assign(acts, { h1: undefined, q: undefined, kCache: undefined, vCache: undefined, attn: undefined, xMid: undefined, h2: undefined, gate: undefined, up: undefined, act: undefined });
}

/** One decoder layer's backward: dx [N, H] holds the gradient of the layer's output on entry and of its input on
 *  return (the residual stream's gradient, updated in place). Frees the layer's activations. */
async function layerBackward(ctx: PassContext, l: number, w: LayerWeights, acts: LayerActivations, dx: Tensor) {
  const { rt, step, model, scratch, B, T } = ctx;
  const c = model.config;
  const N = B * T;
  const [H, qd, kvd, I] = [c.hiddenSize, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediateSize];
  const eps = c.rmsNormEps;

  // MLP: xOut = xMid + down(silu(gate(h2))·up(h2)), h2 = RMSNorm(xMid)
  const dAct = scratch.tensor([N, I], `L${l} dswiglu`);
  await linearBackward(rt, step, dx, w.down, dAct);
  await adapterBackward(ctx, l, 'down', acts.act!, dx, dAct, acts);
  const dGate = scratch.tensor([N, I], `L${l} dgate`);
  const dUp = scratch.tensor([N, I], `L${l} dup`);
  await swigluBackward(rt, step, acts.gate!, acts.up!, dAct, dGate, dUp);
  scratch.free(dAct, acts.act, acts.gate, acts.up);
  const dH = scratch.tensor([N, H], `L${l} dh`);
  await linearBackward(rt, step, dGate, w.gate, dH);
  await linearBackward(rt, step, dUp, w.up, dH, true);
  await adapterBackward(ctx, l, 'gate', acts.h2!, dGate, dH, acts);
  await adapterBackward(ctx, l, 'up', acts.h2!, dUp, dH, acts);
  scratch.free(dGate, dUp, acts.h2);
  await rmsnormBackward(rt, step, acts.xMid!, w.postNorm, dH, dx, eps, true);
  scratch.free(acts.xMid);

  // Attention: xMid = xIn + o(attention(rope(q(h1)), rope(k(h1)), v(h1))), h1 = RMSNorm(xIn)
  const dAttn = scratch.tensor([N, qd], `L${l} dattention`);
  await linearBackward(rt, step, dx, w.o, dAttn);
  await adapterBackward(ctx, l, 'o', acts.attn!, dx, dAttn, acts);
  const dq = scratch.tensor([N, c.heads, c.headDim], `L${l} dq`);
  const dk = scratch.tensor([N, c.kvHeads, c.headDim], `L${l} dk`);
  const dv = scratch.tensor([N, c.kvHeads, c.headDim], `L${l} dv`);
  const stats = scratch.tensor([B, c.heads, T, 2], `L${l} attention stats`);
  const attn3 = reshape(acts.attn!, [N, c.heads, c.headDim]);
  const shares: [Tensor, Tensor] = [scratch.tensor(attn3.shape as number[], `L${l} dk shares`), scratch.tensor(attn3.shape as number[], `L${l} dv shares`)];
  await attentionBackward(rt, step, acts.q!, acts.kCache!, acts.vCache!, ctx.mask, attn3, reshape(dAttn, attn3.shape), stats, shares, { dq, dk, dv }, { batch: B, tokens: T, past: 0 });
  scratch.free(dAttn, stats, ...shares, acts.attn, acts.q, acts.kCache, acts.vCache);
  await ropeBackward(rt, step, dq, ctx.positions, ctx.rope);
  await ropeBackward(rt, step, dk, ctx.positions, ctx.rope);
  const [dq2, dk2, dv2] = [reshape(dq, [N, qd]), reshape(dk, [N, kvd]), reshape(dv, [N, kvd])];
  await linearBackward(rt, step, dq2, w.q, dH);
  await linearBackward(rt, step, dk2, w.k, dH, true);
  await linearBackward(rt, step, dv2, w.v, dH, true);
  await adapterBackward(ctx, l, 'q', acts.h1!, dq2, dH, acts);
  await adapterBackward(ctx, l, 'k', acts.h1!, dk2, dH, acts);
  await adapterBackward(ctx, l, 'v', acts.h1!, dv2, dH, acts);
  scratch.free(dq, dk, dv, acts.h1);
  await rmsnormBackward(rt, step, acts.xIn, w.inputNorm, dH, dx, eps, true);
  scratch.free(dH, acts.xIn);
}

/** The model's RoPE table for T positions. Growing it replaces the tensor through a queue write, which would land
 *  under dispatches of this step that read the old one: only a step with nothing recorded yet may grow it (the
 *  trainer grows it for its longest row first). */
function ropeTable(model: LlamaModel, step: Step, T: number): Tensor {
  const before = model.ropeFor(1);
  const table = model.ropeFor(T);
  if (table !== before && step.commandCount > 0) {
    throw new ShapeError(`training pass: the model's RoPE table grew to ${T} positions in a step that already used it; call model.ropeFor(${T}) before recording`);
  }
  return table;
}

/** Rows of the LM head and loss per chunk: all of them when their logits fit LOGITS_CHUNK_BYTES (or one buffer, if
 *  less), else a multiple of 64 (the row views' offset alignment). */
function headChunkRows(rt: Runtime, N: number, vocab: number): number {
  const rows = Math.floor(Math.min(LOGITS_CHUNK_BYTES, bufferLimit(rt)) / (vocab * 4));
  return rows >= N ? N : Math.max(64, rows - (rows % 64));
}

function rowsView(t: Tensor, start: number, rows: number): Tensor {
  const width = t.shape.length > 1 ? t.shape[1] : 1;
  const shape = t.shape.length > 1 ? [rows, width] : [rows];
  return { ...t, shape, byteOffset: t.byteOffset + start * width * 4 };
}

/** Records the loss of `batch` (and, with `backward`, every adapter gradient) into `step`. Nothing is submitted. */
export async function recordTrainingPass(model: LlamaModel, step: Step, batch: TrainBatch, options: TrainingPassOptions): Promise<void> {
  const rt = model.rt;
  const c = model.config;
  const { batch: B, tokens: T } = batch;
  const N = B * T;
  for (const [name, arr] of [['ids', batch.ids], ['targets', batch.targets], ['attentionMask', batch.attentionMask]] as const) {
    if (arr.length !== N) throw new ShapeError(`training batch: ${name} holds ${arr.length} values, expected ${B}×${T}`);
  }
  if (T > c.maxPositions) throw new ShapeError(`training batch: ${T} tokens per sequence exceed the model's max_position_embeddings ${c.maxPositions}`);
  if (options.backward && options.checkpointing === undefined) throw new ShapeError('training pass: checkpointing must be given');
  const scratch = new Scratch(rt, step);
  const rope = ropeTable(model, step, T); // before this pass records anything
  const ctx: PassContext = {
    rt, step, model, scratch, B, T, rope,
    pass: { rt, step, training: options.backward, seed: options.seed, firstMicroBatch: options.firstMicroBatch },
    positions: scratch.upload(Uint32Array.from({ length: N }, (_, i) => i % T), [N], 'positions'),
    mask: scratch.upload(batch.attentionMask, [B, T], 'attention mask'),
  };
  const w = model.weights;
  try {
    const ids = scratch.upload(batch.ids, [N], 'ids');
    const targets = scratch.upload(batch.targets, [N], 'targets');
    let x = scratch.tensor([N, c.hiddenSize], 'L0 residual');
    await embedTokens(rt, step, ids, w.embed, x);
    const layers: LayerActivations[] = [];
    for (let l = 0; l < c.layers; l++) {
      const acts: LayerActivations = { xIn: x, adapters: new Map() };
      x = await layerForward(ctx, l, w.layers[l], acts);
      if (!options.backward) {
        dropActivations(ctx, acts);
        scratch.free(acts.xIn);
      } else if (options.checkpointing) dropActivations(ctx, acts);
      layers.push(acts);
    }

    // Head: hN = RMSNorm(x); per chunk of rows, logits → loss (→ dlogits in place → dhN)
    const hN = scratch.tensor([N, c.hiddenSize], 'final norm');
    await rmsnormForward(rt, step, x, w.norm, hN, c.rmsNormEps);
    const losses = scratch.tensor([N], 'token losses');
    const dhN = options.backward ? scratch.tensor([N, c.hiddenSize], 'd final norm') : null;
    const chunk = headChunkRows(rt, N, c.vocabSize);
    for (let r0 = 0; r0 < N; r0 += chunk) {
      const rows = Math.min(chunk, N - r0);
      const logits = scratch.tensor([rows, c.vocabSize], 'logits');
      await linearForward(rt, step, rowsView(hN, r0, rows), w.lmHead, logits);
      if (dhN) {
        await crossEntropyForwardBackward(rt, step, logits, rowsView(targets, r0, rows), rowsView(losses, r0, rows), options.lossScale);
        await linearBackward(rt, step, logits, w.lmHead, rowsView(dhN, r0, rows));
      } else {
        await crossEntropyForward(rt, step, logits, rowsView(targets, r0, rows), rowsView(losses, r0, rows));
      }
      scratch.free(logits);
    }
    await rowSum(rt, step, reshape(losses, [1, N]), options.lossSum);
    scratch.free(hN, losses, targets, ids);
    if (!dhN) {
      scratch.free(x);
      return;
    }

    const dx = scratch.tensor([N, c.hiddenSize], 'd residual');
    await rmsnormBackward(rt, step, x, w.norm, dhN, dx, c.rmsNormEps);
    scratch.free(dhN, x);
    for (let l = c.layers - 1; l >= 0; l--) {
      const acts = layers[l];
      if (options.checkpointing) scratch.free(await layerForward(ctx, l, w.layers[l], acts));
      await layerBackward(ctx, l, w.layers[l], acts, dx);
    }
    scratch.free(dx);
  } finally {
    scratch.freeAll();
  }
}
