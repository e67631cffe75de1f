// Loads a LLaMA checkpoint from a ModelSource onto the GPU, shard by shard and tensor by tensor: linear
// weights are quantized on the GPU as they arrive (or kept f32 when no format is given), norms stay f32, the
// embedding too unless `embedding: 'quantized'` stores it in the linears' format (and a tied LM head then reads
// that one table). A source with our quantization.json (quantized-files.ts) is already quantized: its codes and
// statistics are uploaded as they are. On any error everything already on the GPU is freed before the error
// propagates.
import { bufferLimit, type Runtime, type Tensor } from '../gpu';
import { estimateModelSize, type ModelSize } from './size';
import type { QuantizedWeight, QuantSpec, StackedWeight } from '../quant';
import { freeQuantized, specKey, stackProblem, stackQuantized } from '../quant';
import { parseLlamaConfig, type LlamaConfig } from './config';
import { ModelFormatError } from './errors';
import { firstQuantized, freeLinear, type LinearWeight } from './linear';
import { blockRows, quantizeLinear, quantizeRows, uploadDense } from './row-blocks';
import { MANIFEST, QuantizedReader, readManifest } from './quantized-files';
import { readSafetensors } from './safetensors';
import { readJson, type ModelSource, type SourceFile } from './source';

export interface LayerWeights {
  inputNorm: Tensor; // [hidden]
  q: LinearWeight; // [heads·headDim, hidden]
  k: LinearWeight; // [kvHeads·headDim, hidden]
  v: LinearWeight; // [kvHeads·headDim, hidden]
  o: LinearWeight; // [hidden, heads·headDim]
  postNorm: Tensor; // [hidden]
  gate: LinearWeight; // [intermediate, hidden]
  up: LinearWeight; // [intermediate, hidden]
  down: LinearWeight; // [hidden, intermediate]
  /** q, k, v stacked into one weight (stackLinears); q, k, v are then views into it. */
  qkv?: StackedWeight;
  /** gate, up stacked likewise. */
  gateUp?: StackedWeight;
}

export interface LlamaWeights {
  config: LlamaConfig;
  /** [vocab, hidden], f32 or in the linears' format (read a row at a time by embedTokens). */
  embed: LinearWeight;
  layers: LayerWeights[];
  norm: Tensor; // [hidden]
  /** A tied model's is the embedding's table (sharesEmbedding), unless quantizeLmHead made a quantized copy of an
   *  f32 embedding. */
  lmHead: LinearWeight;
}

/** Whether the LM head reads the embedding's own table (a tied model without a separate copy). */
export function sharesEmbedding(w: Pick<LlamaWeights, 'embed' | 'lmHead'>): boolean {
  return w.lmHead === w.embed || (w.lmHead.kind === 'dense' && w.embed.kind === 'dense' && w.lmHead.weight === w.embed.weight);
}

/** Bytes of a file read (download), or linears quantized so far (quantize: file is the tensor). */
export interface LoadProgress {
  phase: 'download' | 'quantize';
  file: string;
  loaded: number;
  total: number | null;
  /** download: bytes read across every shard so far, of the model's (one file: its size; shards: the index's
   *  total_size, the tensors' bytes, which the files' headers exceed a little; null where unknown). */
  overall?: { loaded: number; total: number | null };
}

export interface LoadOptions {
  /** Format of the linear weights; omit (or null) to keep them in f32. */
  quant?: QuantSpec | null;
  /** Quantize the LM head too (default false: it stays f32, as QLoRA does). */
  quantizeLmHead?: boolean;
  /** 'quantized': the token embedding in `quant`'s format too (a quarter to an eighth of f32's bytes; a tied LM head
   *  then reads the same codes, one copy for both). Default 'f32'. A stored quantized model says for itself. */
  embedding?: 'f32' | 'quantized';
  /** Called with the model's estimated size (estimateModelSize) once config.json is read and before any weight is
   *  requested: a check that throws stops the load there (the cache's quota check is one). */
  beforeDownload?: (size: ModelSize) => void | Promise<void>;
  /** Store each layer's quantized q, k, v and its gate, up as one weight each, so decoding reads each set in
   *  one launch (default true; where the format and device alignment allow, see stackProblem). */
  stack?: boolean;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

const EMBED = 'model.embed_tokens.weight';

export const LINEARS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LinearKey = (typeof LINEARS)[number];
export const HF_LINEAR: Record<LinearKey, string> = {
  q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj',
};

/** Every tensor the config implies, with its shape. */
export function expectedTensors(c: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const [h, qd, kvd, inter] = [c.hiddenSize, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediateSize];
  m.set('model.embed_tokens.weight', [c.vocabSize, h]);
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [h]);
    m.set(`${p}post_attention_layernorm.weight`, [h]);
    const shapes: Record<LinearKey, number[]> = { q: [qd, h], k: [kvd, h], v: [kvd, h], o: [h, qd], gate: [inter, h], up: [inter, h], down: [h, inter] };
    for (const key of LINEARS) m.set(`${p}${HF_LINEAR[key]}.weight`, shapes[key]);
  }
  m.set('model.norm.weight', [h]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, h]);
  return m;
}

async function requireJson(source: ModelSource, path: string): Promise<Record<string, unknown>> {
  const json = await readJson(source, path);
  if (!json) throw new ModelFormatError(path, `not found in ${source.name}`);
  return json;
}

const INDEX = 'model.safetensors.index.json';

/** The safetensors files to read — model.safetensors (already opened), or the shards an index names — and the file
 *  each tensor should come from (for errors about missing ones). */
/** The checkpoint's files (the first opened when it is one file), where each tensor comes from (for messages), and
 *  the model's bytes as the index states them (its metadata.total_size: the tensors' bytes, a little under the files'),
 *  or null. */
async function shardList(source: ModelSource): Promise<{ shards: { file: string; opened: SourceFile | null }[]; fileOf: (tensor: string) => string; totalBytes: number | null }> {
  const single = await source.file('model.safetensors');
  if (single) return { shards: [{ file: 'model.safetensors', opened: single }], fileOf: () => 'model.safetensors', totalBytes: single.size };
  const index = await readJson(source, INDEX);
  if (!index) throw new ModelFormatError('model.safetensors', `neither it nor ${INDEX} is in ${source.name}`);
  const map = index.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new ModelFormatError(INDEX, "has no 'weight_map' object");
  for (const [tensor, file] of Object.entries(map)) {
    if (typeof file !== 'string' || !file.endsWith('.safetensors')) {
      throw new ModelFormatError(INDEX, `weight_map names ${JSON.stringify(file)} for the tensor, not a .safetensors file`, tensor);
    }
  }
  const files = map as Record<string, string>;
  const total = (index.metadata as { total_size?: unknown } | undefined)?.total_size;
  return {
    shards: [...new Set(Object.values(files))].map((file) => ({ file, opened: null })),
    fileOf: (tensor) => (files[tensor] ? `${files[tensor]} (by ${INDEX})` : INDEX),
    totalBytes: typeof total === 'number' && Number.isFinite(total) && total > 0 ? total : null,
  };
}

export async function loadConfig(source: ModelSource): Promise<LlamaConfig> {
  return parseLlamaConfig(await requireJson(source, 'config.json'));
}

export async function loadLlamaWeights(rt: Runtime, source: ModelSource, options: LoadOptions = {}): Promise<LlamaWeights> {
  const config = await loadConfig(source);
  let weights: LlamaWeights;
  const expected = expectedTensors(config);
  const manifest = await readManifest(source);
  if (manifest && options.quant && specKey(options.quant) !== specKey(manifest.quant)) {
    throw new ModelFormatError(MANIFEST, `the model is stored quantized as ${JSON.stringify(manifest.quant)}: load it without 'quant' (or with that spec), not as ${JSON.stringify(options.quant)}`);
  }
  if (options.embedding !== undefined && options.embedding !== 'f32' && options.embedding !== 'quantized') {
    throw new RangeError(`embedding must be 'f32' or 'quantized', got ${JSON.stringify(options.embedding)}`);
  }
  if (options.embedding === 'quantized' && !options.quant && !manifest) {
    throw new RangeError("embedding: 'quantized' needs a quant format (the embedding takes the linears' format)");
  }
  const storedEmbed = !!manifest?.embedQuantized;
  if (manifest && options.embedding !== undefined && (options.embedding === 'quantized') !== storedEmbed) {
    throw new ModelFormatError(MANIFEST, `the model is stored with its embedding ${storedEmbed ? 'quantized' : 'in f32'}: load it without 'embedding' (or with '${storedEmbed ? 'quantized' : 'f32'}')`);
  }
  const size = estimateModelSize(config, {
    quant: manifest?.quant ?? options.quant, quantizeLmHead: manifest ? manifest.lmHeadQuantized : options.quantizeLmHead,
    embedding: manifest ? (storedEmbed ? 'quantized' : 'f32') : options.embedding, stored: !!manifest,
  });
  checkFits(rt, config, size);
  await options.beforeDownload?.(size);
  // A stored-quantized tied model may carry its own quantized LM head.
  if (manifest?.lmHeadQuantized && config.tieWordEmbeddings) expected.set('lm_head.weight', [config.vocabSize, config.hiddenSize]);
  const quant = manifest ? null : options.quant;
  const quantizeEmbed = !!quant && options.embedding === 'quantized';
  const toQuantize = config.layers * LINEARS.length + (options.quantizeLmHead && !(quantizeEmbed && config.tieWordEmbeddings) ? 1 : 0) + (quantizeEmbed ? 1 : 0);
  const dense = new Map<string, Tensor>();
  const linears = new Map<string, LinearWeight>();
  let quantized = 0;
  const freeAll = () => {
    for (const t of dense.values()) rt.free(t);
    for (const w of linears.values()) freeLinear(rt, w);
  };
  try {
    const { shards, fileOf, totalBytes } = await shardList(source);
    const overall = { loaded: 0, total: totalBytes };
    for (const { file, opened } of shards) {
      const f = opened ?? (await source.file(file));
      if (!f) throw new ModelFormatError(file, `not found in ${source.name} (${INDEX} names it)`);
      if (shards.length === 1) overall.total = f.size;
      let loaded = 0;
      const progress = (n: number) => {
        loaded += n;
        overall.loaded += n;
        options.onProgress?.({ phase: 'download', file, loaded, total: f.size, overall: { ...overall } });
      };
      const stored = manifest ? new QuantizedReader(rt, manifest.quant, file) : null;
      for await (const t of readSafetensors(f.stream(), file, f.size, progress)) {
        options.signal?.throwIfAborted();
        const part = stored && /^(.+)\.(codes|stats|stat_blocks)$/.exec(t.name);
        if (stored && part) {
          const name = `${part[1]}.weight`;
          const shape = expected.get(name);
          if (!shape || shape.length !== 2 || (name === EMBED && !storedEmbed) || (name === 'lm_head.weight' && !manifest!.lmHeadQuantized)) {
            throw new ModelFormatError(file, `is not a part of a quantized linear of this model (${MANIFEST})`, t.name);
          }
          if (linears.has(name)) throw new ModelFormatError(file, 'appears twice', t.name);
          const linear = stored.add(name, part[2], t, shape[0], shape[1]);
          if (linear) linears.set(name, linear);
          continue;
        }
        if (t.dtype === 'U32') throw new ModelFormatError(file, 'is U32 where a float tensor belongs', t.name);
        const shape = expected.get(t.name);
        if (!shape) continue; // e.g. rotary inv_freq buffers, or lm_head.weight of a tied model
        if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
          throw new ModelFormatError(file, `shape [${t.shape}] does not match config.json's [${shape}]`, t.name);
        }
        if (dense.has(t.name) || linears.has(t.name)) throw new ModelFormatError(file, 'appears twice', t.name);
        const isLinear = t.shape.length === 2 && (t.name === EMBED ? quantizeEmbed : t.name !== 'lm_head.weight' || options.quantizeLmHead);
        if (manifest && t.shape.length === 2 && (t.name === EMBED ? storedEmbed : t.name !== 'lm_head.weight' || manifest.lmHeadQuantized)) {
          throw new ModelFormatError(file, `is stored dense, but ${MANIFEST} says the linears are quantized (expected its .codes and .stats)`, t.name);
        }
        // Quantization refuses non-finite weights on the GPU; tensors kept in f32 are checked here.
        if (!(isLinear && quant)) {
          const bad = t.data.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0) {
            const where = t.shape.length === 2 ? `row ${Math.floor(bad / t.shape[1])}, column ${bad % t.shape[1]}` : `index ${bad}`;
            throw new ModelFormatError(file, `holds a non-finite value (${t.data[bad]}) at ${where}`, t.name);
          }
        }
        const data = t.data as Float32Array;
        if (isLinear && quant) {
          linears.set(t.name, await quantizeRows(rt, data, t.shape[0], t.shape[1], quant, t.name));
          options.onProgress?.({ phase: 'quantize', file: t.name, loaded: ++quantized, total: toQuantize });
        } else if (t.shape.length === 2) {
          linears.set(t.name, uploadDense(rt, data, t.shape[0], t.shape[1], t.name));
        } else {
          dense.set(t.name, rt.upload(data, t.shape, t.name));
        }
      }
    }
    const missing = [...expected.keys()].filter((n) => !dense.has(n) && !linears.has(n));
    if (missing.length) {
      throw new ModelFormatError(fileOf(missing[0]), `missing ${missing.length} tensor(s) config.json implies: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`, missing[0]);
    }
    const embed = linears.get(EMBED)!;
    let lmHead: LinearWeight;
    if (!config.tieWordEmbeddings || manifest?.lmHeadQuantized) lmHead = linears.get('lm_head.weight')!;
    else if (quant && options.quantizeLmHead && !firstQuantized(embed)) {
      lmHead = await quantizeLinear(rt, embed, quant, 'lm_head.weight');
      linears.set('lm_head.weight', lmHead);
      options.onProgress?.({ phase: 'quantize', file: 'lm_head.weight (tied)', loaded: ++quantized, total: toQuantize });
    } else lmHead = embed; // one table for both
    const layers = Array.from({ length: config.layers }, (_, l): LayerWeights => {
      const p = `model.layers.${l}.`;
      const lin = (key: LinearKey) => linears.get(`${p}${HF_LINEAR[key]}.weight`)!;
      return {
        inputNorm: dense.get(`${p}input_layernorm.weight`)!, postNorm: dense.get(`${p}post_attention_layernorm.weight`)!,
        q: lin('q'), k: lin('k'), v: lin('v'), o: lin('o'), gate: lin('gate'), up: lin('up'), down: lin('down'),
      };
    });
    await rt.sync();
    weights = { config, embed, layers, norm: dense.get('model.norm.weight')!, lmHead };
  } catch (e) {
    freeAll();
    throw e;
  }
  if (options.stack ?? true) {
    try {
      stackLinears(rt, weights);
    } catch (e) {
      freeLlamaWeights(rt, weights);
      throw e;
    }
  }
  return weights;
}

/** A LimitError, before any weight is downloaded, when not even a row block of the widest weight fits one buffer
 *  (tensors past the limits are otherwise split into row blocks, row-blocks.ts). */
function checkFits(rt: Runtime, c: LlamaConfig, size: ModelSize): void {
  const widest = Math.max(c.hiddenSize, c.intermediateSize, c.heads * c.headDim);
  blockRows(1, 4 * widest, bufferLimit(rt), 1, `loading a model with rows of ${widest} values (its weights ~${size.weightBytes} bytes)`);
}

/** `linears` stacked (stackQuantized) with their parts as views, or null when one is dense or stackProblem
 *  names a reason. */
function stackSet(rt: Runtime, linears: LinearWeight[]): { stacked: StackedWeight; linears: LinearWeight[] } | null {
  const parts: QuantizedWeight[] = [];
  for (const w of linears) {
    if (w.kind !== 'quantized') return null;
    parts.push(w.weight);
  }
  if (stackProblem(rt, parts)) return null;
  const stacked = stackQuantized(rt, parts, parts.map((w) => w.name).join('+'));
  return { stacked, linears: linears.map((w, i) => ({ ...w, weight: stacked.parts[i] }) as LinearWeight) };
}

/** Stacks each layer's quantized q, k, v and gate, up (LayerWeights.qkv, gateUp) where stackProblem allows;
 *  leaves the others as they are. A layer is consistent after every step, so freeLlamaWeights frees it whatever
 *  happens. */
export function stackLinears(rt: Runtime, weights: LlamaWeights): void {
  for (const layer of weights.layers) {
    const qkv = layer.qkv ? null : stackSet(rt, [layer.q, layer.k, layer.v]);
    if (qkv) {
      layer.qkv = qkv.stacked;
      [layer.q, layer.k, layer.v] = qkv.linears;
    }
    const gateUp = layer.gateUp ? null : stackSet(rt, [layer.gate, layer.up]);
    if (gateUp) {
      layer.gateUp = gateUp.stacked;
      [layer.gate, layer.up] = gateUp.linears;
    }
  }
}

export function freeLlamaWeights(rt: Runtime, w: LlamaWeights) {
  freeLinear(rt, w.embed);
  rt.free(w.norm);
  for (const l of w.layers) {
    rt.free(l.inputNorm, l.postNorm);
    if (l.qkv) freeQuantized(rt, l.qkv.weight);
    if (l.gateUp) freeQuantized(rt, l.gateUp.weight);
    const stacked = new Set<LinearKey>([...(l.qkv ? (['q', 'k', 'v'] as const) : []), ...(l.gateUp ? (['gate', 'up'] as const) : [])]);
    for (const key of LINEARS) if (!stacked.has(key)) freeLinear(rt, l[key]);
  }
  if (!sharesEmbedding(w)) freeLinear(rt, w.lmHead);
}
