// The model as a plain transformers checkpoint: every weight dense in f16 or bf16 under its HF name, the linears
// dequantized with any method's adapters folded in, plus the base's config.json (its dtype set) and tokenizer files.
// Method-agnostic: each linear's dense weight is read off the GPU as the layer's own forward (base + attached adapter,
// inference mode) applied to identity rows, Y = I·(Ŵ + ΔW)ᵀ, a block of rows at a time; products with 0 and 1 are
// exact, so the base part is the dequantized weight to the last bit and ΔW is the adapter's f32 product.
import type { Tensor } from '../gpu';
import type { AdapterSet } from '../adapters';
import { ModelFormatError } from './errors';
import { linearForward, type LinearWeight } from './linear';
import { linearName, type LlamaModel } from './llama';
import { shardedSafetensors, type NamedTensor } from './safetensors-write';
import { copyFiles, MODEL_FILES, type ModelSource } from './source';
import { HF_LINEAR, LINEARS, sharesEmbedding, type LinearKey } from './weights';

export type DenseDtype = 'f16' | 'bf16';

/** Identity rows per forward: bounds the scratch at 2048 × max(in, out) floats twice. */
const BLOCK = 2048;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 by round-to-nearest-even of the f32 bits (NaN kept a NaN). */
function toBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

/** IEEE half by round-to-nearest-even; overflow to ±Inf, subnormals kept. */
function toF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++;
  return sign | r;
}

function convert(data: Float32Array, dtype: DenseDtype): Uint16Array {
  const to = dtype === 'bf16' ? toBf16 : toF16;
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = to(data[i]);
  return out;
}

/** W + ΔW [out, in] of one linear, read as I·(W + ΔW)ᵀ block by block. */
async function denseLinear(model: LlamaModel, w: LinearWeight, adapters: AdapterSet | null, name: string): Promise<Float32Array> {
  const rt = model.rt;
  const [out, inF] = [w.out, w.in];
  const module = adapters?.get(name);
  const dense = new Float32Array(out * inF);
  for (let r0 = 0; r0 < inF; r0 += BLOCK) {
    const rows = Math.min(BLOCK, inF - r0);
    const eye = new Float32Array(rows * inF);
    for (let i = 0; i < rows; i++) eye[i * inF + r0 + i] = 1;
    const x = rt.upload(eye, [rows, inF], `${name} identity rows`);
    const y = rt.tensor([rows, out], 'f32', `${name} dense rows`);
    let yt: Float32Array;
    try {
      const step = rt.step();
      await linearForward(rt, step, x, w, y, false, true); // the exact dequantized values
      await module?.forward({ rt, step, training: false, seed: 0, firstMicroBatch: true }, x, y);
      step.submit();
      yt = (await rt.read(y)) as Float32Array;
    } finally {
      rt.free(x, y);
    }
    for (let i = 0; i < rows; i++) for (let o = 0; o < out; o++) dense[o * inF + r0 + i] = yt[i * out + o];
  }
  return dense;
}

/**
 * The model (with `adapters` folded in, default the attached ones) as transformers files: model.safetensors (shards of
 * at most `maxShardBytes`, default 2 GB, and their index past that) in `dtype` (default bf16), config.json with its
 * dtype set, the tokenizer files; `source` defaults to the model's own.
 */
export async function exportDense(model: LlamaModel, options: { dtype?: DenseDtype; adapters?: AdapterSet | null; source?: ModelSource | null; maxShardBytes?: number } = {}): Promise<Record<string, Blob>> {
  const dtype = options.dtype ?? 'bf16';
  if (dtype !== 'f16' && dtype !== 'bf16') throw new RangeError(`exportDense: dtype must be 'f16' or 'bf16', got ${JSON.stringify(dtype)}`);
  const adapters = options.adapters === undefined ? model.adapters : options.adapters;
  const source = options.source === undefined ? model.source : options.source;
  const configFile = source ? await source.file('config.json') : null;
  if (!configFile) throw new ModelFormatError('config.json', 'the model has no source to copy config.json from: pass options.source');
  const rt = model.rt;
  const w = model.weights;
  const tensors: NamedTensor[] = [];
  const st = dtype === 'bf16' ? 'BF16' : 'F16';
  const push = (name: string, shape: number[], data: Float32Array) => tensors.push({ name, shape, data: convert(data, dtype), dtype: st });
  const read = async (t: Tensor) => (await rt.read(t)) as Float32Array;
  const embedRows = w.embed.kind === 'dense' ? await read(w.embed.weight) : await denseLinear(model, w.embed, null, 'model.embed_tokens');
  push('model.embed_tokens.weight', [w.embed.out, w.embed.in], embedRows);
  for (let l = 0; l < w.layers.length; l++) {
    const layer = w.layers[l];
    push(`model.layers.${l}.input_layernorm.weight`, [...layer.inputNorm.shape], await read(layer.inputNorm));
    push(`model.layers.${l}.post_attention_layernorm.weight`, [...layer.postNorm.shape], await read(layer.postNorm));
    for (const key of LINEARS as readonly LinearKey[]) {
      const lw = layer[key];
      push(`model.layers.${l}.${HF_LINEAR[key]}.weight`, [lw.out, lw.in], await denseLinear(model, lw, adapters, linearName(l, key)));
    }
  }
  push('model.norm.weight', [...w.norm.shape], await read(w.norm));
  const tied = model.config.tieWordEmbeddings;
  if (!tied) push('lm_head.weight', [w.lmHead.out, w.lmHead.in], w.lmHead.kind === 'dense' ? await read(w.lmHead.weight) : await denseLinear(model, w.lmHead, null, 'lm_head'));
  else if (!sharesEmbedding(w)) {
    throw new ModelFormatError('config.json', 'the tied LM head is quantized apart from the embedding: transformers ties them, so this model has no dense export');
  }
  const config = JSON.parse(await configFile.text());
  config.torch_dtype = config.dtype = dtype === 'bf16' ? 'bfloat16' : 'float16';
  delete config.quantization_config;
  return {
    ...(await copyFiles(source!, MODEL_FILES.filter((f) => f !== 'config.json'))),
    'config.json': new Blob([JSON.stringify(config, null, 2) + '\n']),
    ...shardedSafetensors(tensors.map((t) => [t]), { format: 'pt' }, options.maxShardBytes),
  };
}
