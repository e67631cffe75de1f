// The LLaMA forward pass, reading like the architecture:
//   embed → N × (RMSNorm → attention → residual → RMSNorm → SwiGLU MLP → residual) → RMSNorm → logits.
// Every call runs B sequences of T new tokens against a KV cache (prefill: an empty cache; decode: T = 1),
// records all dispatches into one Step and submits once.
import type { DispatchTiming, Runtime, Tensor } from '../gpu';
import { bufferLimit, expectShape, numel, reshape, ShapeError } from '../gpu';
import {
  attentionForward, rmsnormForward, ropeForward, ropeTable, swigluForward, writeKv,
} from '../ops';
import type { AdapterPass, AdapterSet, AdaptableLinear } from '../adapters';
import { outputBlocks } from '../quant';
import { prepareMatrixPath, quantMatmul } from '../matmul';
import { ropeInvFreq, type LlamaConfig } from './config';
import { embedTokens, firstQuantized, linearForward } from './linear';
import { freeLlamaWeights, HF_LINEAR, LINEARS, loadLlamaWeights, type LinearKey, type LlamaWeights, type LoadOptions } from './weights';
import type { ModelSource } from './source';
import type { MergeRecord } from './quantized-files';

/** Keys and values of every layer for B sequences of up to `capacity` tokens, and which rows are real. */
export interface KvCache {
  readonly batch: number;
  readonly capacity: number;
  /** Rows filled so far (the same for every sequence; padding is marked in `mask`). */
  length: number;
  readonly keys: Tensor[]; // per layer [B, kvHeads, capacity, headDim]
  readonly values: Tensor[];
  readonly maskHost: Uint32Array; // [B, capacity], 1 = real token
  readonly mask: Tensor;
}

export interface ForwardInput {
  /** Token ids, [batch, tokens] row-major; or already on the GPU (u32 [batch·tokens], e.g. the previous
   *  step's argmax), where an id past the vocabulary reads the last row instead of failing. */
  ids: ArrayLike<number> | Tensor;
  batch: number;
  /** 1 for real tokens, 0 for padding, [batch, tokens]; default all 1. */
  attentionMask?: ArrayLike<number>;
}

export interface ForwardOptions {
  /** 'all' → logits [B·T, vocab]; 'last' → logits of each sequence's last new token, [B, vocab]. */
  logits: 'all' | 'last';
  /** Time every dispatch with GPU timestamps (one pass each, so slower) and report them after submit. */
  onTimings?: (timings: DispatchTiming[], recordSeconds: number) => void;
}

function isTensor(ids: ArrayLike<number> | Tensor): ids is Tensor {
  return (ids as Tensor).buffer !== undefined && (ids as Tensor).shape !== undefined;
}

/** The transformers name of layer l's linear `key`: 'model.layers.0.self_attn.q_proj'. */
export function linearName(layer: number, key: LinearKey): string {
  return `model.layers.${layer}.${HF_LINEAR[key]}`;
}

/** An adapter folded into the weights: its method and hyperparameters. */
export class LlamaModel {
  /** Adapters added to the linears' outputs in every forward (generation, perplexity, training); null for none. */
  adapters: AdapterSet | null = null;
  /** The adapters mergeAdapters folded into the weights, in order. */
  readonly merges: MergeRecord[] = [];
  private ropeCos: Tensor | null = null;
  private ropeRows = 0;
  private readonly invFreq: Float32Array;

  private constructor(
    readonly rt: Runtime,
    readonly weights: LlamaWeights,
    /** Where the weights came from (exports copy its config and tokenizer files); null for fromWeights. */
    readonly source: ModelSource | null,
  ) {
    this.invFreq = ropeInvFreq(weights.config);
  }

  /** Loads and quantizes (or reads) the weights; on the f16 matrix path, the self-checks of the matrix kernels the
   *  base's format takes run here too (rt.capabilities.matmul says the outcome). */
  static async load(rt: Runtime, source: ModelSource, options: LoadOptions = {}): Promise<LlamaModel> {
    const model = new LlamaModel(rt, await loadLlamaWeights(rt, source, options), source);
    const quantized = model.weights.layers[0] ? firstQuantized(model.weights.layers[0].q) : null;
    if (quantized) await prepareMatrixPath(rt, quantized);
    return model;
  }

  /** A model over weights already on the GPU (e.g. built by a benchmark); dispose() frees them. */
  static fromWeights(rt: Runtime, weights: LlamaWeights, source: ModelSource | null = null): LlamaModel {
    return new LlamaModel(rt, weights, source);
  }

  get config(): LlamaConfig {
    return this.weights.config;
  }

  /** Every linear of the decoder layers that an adapter can wrap, with its shape. */
  adaptableLinears(): AdaptableLinear[] {
    return this.weights.layers.flatMap((layer, l) => LINEARS.map((key) => ({
      target: linearName(l, key), kind: `${key}_proj` as AdaptableLinear['kind'], inFeatures: layer[key].in, outFeatures: layer[key].out,
    })));
  }

  createCache(batch: number, capacity: number): KvCache {
    const c = this.config;
    const shape = [batch, c.kvHeads, capacity, c.headDim];
    const keys = Array.from({ length: c.layers }, (_, l) => this.rt.tensor(shape, 'f32', `k cache ${l}`));
    const values = Array.from({ length: c.layers }, (_, l) => this.rt.tensor(shape, 'f32', `v cache ${l}`));
    const maskHost = new Uint32Array(batch * capacity);
    return { batch, capacity, length: 0, keys, values, maskHost, mask: this.rt.upload(maskHost, [batch, capacity], 'kv mask') };
  }

  freeCache(cache: KvCache) {
    this.rt.free(...cache.keys, ...cache.values, cache.mask);
  }

  /** The (cos, sin) table, grown (doubling) to cover `positions` rows; owned by the model. */
  ropeFor(positions: number): Tensor {
    if (positions > this.ropeRows) {
      if (this.ropeCos) this.rt.free(this.ropeCos);
      this.ropeRows = Math.max(positions, 2 * this.ropeRows, 256);
      const half = this.config.headDim / 2;
      this.ropeCos = this.rt.upload(ropeTable(this.invFreq, this.ropeRows), [this.ropeRows, half, 2], 'rope table');
    }
    return this.ropeCos!;
  }

  /**
   * Runs the new tokens through the model, appends their keys/values to `cache` and returns logits
   * (a tensor the caller frees). Positions continue from the cache length, as transformers does without
   * explicit position ids.
   */
  async forward(input: ForwardInput, cache: KvCache, options: ForwardOptions): Promise<Tensor> {
    const { rt, weights } = this;
    const c = this.config;
    const B = input.batch;
    const idCount = isTensor(input.ids) ? numel(input.ids.shape) : input.ids.length;
    const T = idCount / B;
    if (B !== cache.batch) throw new ShapeError(`forward: batch ${B} does not match the cache's ${cache.batch}`);
    if (!Number.isInteger(T) || T < 1) throw new ShapeError(`forward: ${idCount} ids do not split into ${B} sequences`);
    if (cache.length + T > cache.capacity) {
      throw new ShapeError(`forward: ${cache.length} cached + ${T} new tokens exceed the cache capacity ${cache.capacity}`);
    }
    if (isTensor(input.ids)) expectShape(input.ids, [idCount], 'forward', 'u32');
    else {
      const bad = Array.prototype.findIndex.call(input.ids, (id: number) => !(Number.isInteger(id) && id >= 0 && id < c.vocabSize));
      if (bad >= 0) throw new RangeError(`forward: token id ${input.ids[bad]} at index ${bad} is outside the vocabulary of ${c.vocabSize}`);
    }
    const past = cache.length;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) cache.maskHost[b * cache.capacity + past + t] = input.attentionMask ? (input.attentionMask[b * T + t] ? 1 : 0) : 1;
    }
    rt.write(cache.mask, cache.maskHost);

    const N = B * T;
    const [H, qd, kvd, I] = [c.hiddenSize, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediateSize];
    const positions = Uint32Array.from({ length: N }, (_, i) => past + (i % T));
    const ropeTab = this.ropeFor(past + T);
    const scratch: Tensor[] = [];
    const t = (shape: number[], label: string, dtype: 'f32' | 'u32' = 'f32') => {
      const x = rt.tensor(shape, dtype, label);
      scratch.push(x);
      return x;
    };
    let idsT: Tensor;
    if (isTensor(input.ids)) idsT = input.ids;
    else {
      idsT = t([N], 'ids', 'u32');
      rt.write(idsT, Uint32Array.from(input.ids));
    }
    const posT = t([N], 'positions', 'u32');
    rt.write(posT, positions);
    const x = t([N, H], 'residual');
    const h = t([N, H], 'normed');
    // Stacked layers write q, k, v (gate, up) in one launch, each as its own block of one buffer.
    const align = rt.device.limits.minStorageBufferOffsetAlignment;
    // Blocks off the offset alignment (odd N with small widths) or more than one buffer holds: the layers fall back to
    // separate outputs.
    const blocks = (sizes: number[], label: string): { all: Tensor; parts: Tensor[] } | null => {
      const width = sizes.reduce((a, b) => a + b, 0);
      if (4 * N * width > bufferLimit(rt)) return null;
      const all = t([N, width], label);
      const parts = outputBlocks(all, sizes);
      return parts.every((p) => p.byteOffset % align === 0) ? { all, parts } : null;
    };
    const stackedQkv = weights.layers.some((l) => l.qkv) ? blocks([qd, kvd, kvd], 'qkv') : null;
    const stackedGateUp = weights.layers.some((l) => l.gateUp) ? blocks([I, I], 'gate+up') : null;
    const [q, k, v] = stackedQkv?.parts ?? [t([N, qd], 'q'), t([N, kvd], 'k'), t([N, kvd], 'v')];
    const [gate, up] = stackedGateUp?.parts ?? [t([N, I], 'gate'), t([N, I], 'up')];
    const attn = t([N, qd], 'attention');
    const act = t([N, I], 'swiglu');
    const window = { batch: B, tokens: T, past };

    const recordStart = performance.now();
    const step = rt.step({ profile: !!options.onTimings });
    const pass: AdapterPass = { rt, step, training: false, seed: 0, firstMicroBatch: true };
    const adapt = async (l: number, key: LinearKey, input: Tensor, output: Tensor) => {
      await this.adapters?.get(linearName(l, key))?.forward(pass, input, output);
    };
    try {
      await embedTokens(rt, step, idsT, weights.embed, x);
      for (let l = 0; l < c.layers; l++) {
        const w = weights.layers[l];
        await rmsnormForward(rt, step, x, w.inputNorm, h, c.rmsNormEps);
        if (w.qkv && stackedQkv) await quantMatmul(rt, step, h, w.qkv.weight, stackedQkv.all, { parts: w.qkv.rows });
        else {
          await linearForward(rt, step, h, w.q, q);
          await linearForward(rt, step, h, w.k, k);
          await linearForward(rt, step, h, w.v, v);
        }
        await adapt(l, 'q', h, q);
        await adapt(l, 'k', h, k);
        await adapt(l, 'v', h, v);
        const q3 = reshape(q, [N, c.heads, c.headDim]);
        const k3 = reshape(k, [N, c.kvHeads, c.headDim]);
        await ropeForward(rt, step, q3, posT, ropeTab);
        await ropeForward(rt, step, k3, posT, ropeTab);
        await writeKv(rt, step, k3, reshape(v, k3.shape), cache.keys[l], cache.values[l], window);
        await attentionForward(rt, step, q3, cache.keys[l], cache.values[l], cache.mask, reshape(attn, q3.shape), window);
        await linearForward(rt, step, attn, w.o, x, true);
        await adapt(l, 'o', attn, x);
        await rmsnormForward(rt, step, x, w.postNorm, h, c.rmsNormEps);
        if (w.gateUp && stackedGateUp) await quantMatmul(rt, step, h, w.gateUp.weight, stackedGateUp.all, { parts: w.gateUp.rows });
        else {
          await linearForward(rt, step, h, w.gate, gate);
          await linearForward(rt, step, h, w.up, up);
        }
        await adapt(l, 'gate', h, gate);
        await adapt(l, 'up', h, up);
        await swigluForward(rt, step, gate, up, act);
        await linearForward(rt, step, act, w.down, x, true);
        await adapt(l, 'down', act, x);
      }
      await rmsnormForward(rt, step, x, weights.norm, h, c.rmsNormEps);
      let head = h;
      if (options.logits === 'last') {
        head = t([B, H], 'last hidden');
        for (let b = 0; b < B; b++) {
          const rowBytes = H * 4;
          step.copy({ ...h, byteOffset: h.byteOffset + (b * T + T - 1) * rowBytes }, { ...head, byteOffset: head.byteOffset + b * rowBytes }, rowBytes);
        }
      }
      const logits = rt.tensor([head.shape[0], c.vocabSize], 'f32', 'logits');
      try {
        await linearForward(rt, step, head, weights.lmHead, logits);
      } catch (e) {
        rt.free(logits);
        throw e;
      }
      step.submit();
      cache.length += T;
      if (options.onTimings) {
        const recordSeconds = (performance.now() - recordStart) / 1e3;
        options.onTimings(await step.timings(), recordSeconds);
      }
      return logits;
    } finally {
      rt.free(...scratch);
    }
  }

  dispose() {
    freeLlamaWeights(this.rt, this.weights);
    if (this.ropeCos) this.rt.free(this.ropeCos);
    this.ropeCos = null;
  }
}
