// What a model will take before any weight is downloaded, from config.json alone: the bytes of its weights on the GPU
// (and so of its quantized files in the cache), and the largest tensor loading uploads in f32 (split into row blocks
// where it exceeds one buffer, row-blocks.ts). The cache checks the bytes against the storage quota, so a model that
// cannot fit fails at once, naming the sizes.
import type { QuantSpec } from '../quant';
import { bitsPerWeight } from '../quant';
import type { LlamaConfig } from './config';

export interface ModelSize {
  /** Bytes of every weight as loaded (quantized linears' codes and statistics, f32 norms, the embedding and head). */
  weightBytes: number;
  /** The largest f32 tensor uploaded while loading, and its bytes. */
  largestTensor: { name: string; bytes: number };
}

/** The estimate for `config` loaded as `options` say (LoadOptions' quant, quantizeLmHead, embedding). `stored`: the
 *  source holds our quantized files, so its quantized tensors arrive as codes, not as f32. */
export function estimateModelSize(
  c: LlamaConfig,
  { quant = null, quantizeLmHead = false, embedding = 'f32', stored = false }: { quant?: QuantSpec | null; quantizeLmHead?: boolean; embedding?: 'f32' | 'quantized'; stored?: boolean } = {},
): ModelSize {
  const [h, qd, kvd, inter] = [c.hiddenSize, c.heads * c.headDim, c.kvHeads * c.headDim, c.intermediateSize];
  const linear = (out: number, inF: number, quantized: boolean) => (quantized && quant ? (out * inF * bitsPerWeight(quant)) / 8 : 4 * out * inF);
  const table = c.vocabSize * h;
  const embedQuantized = !!quant && embedding === 'quantized';
  const layer = linear(qd, h, true) + 2 * linear(kvd, h, true) + linear(h, qd, true) + 2 * linear(inter, h, true) + linear(h, inter, true) + 2 * 4 * h;
  const embed = linear(c.vocabSize, h, embedQuantized);
  // A tied head is the embedding's table, unless quantizeLmHead made a quantized copy of an f32 one.
  const head = c.tieWordEmbeddings && (embedQuantized || !quantizeLmHead) ? 0 : linear(c.vocabSize, h, quantizeLmHead);
  // What each 2-D tensor uploads: f32 as it arrives, or (stored) its codes where it is quantized.
  const upload = (elements: number, quantized: boolean) => (stored && quantized && quant ? (elements * bitsPerWeight(quant)) / 8 : 4 * elements);
  const uploads: [string, number][] = [
    ['model.embed_tokens.weight', upload(table, embedQuantized)],
    ...(c.tieWordEmbeddings ? [] : [['lm_head.weight', upload(table, quantizeLmHead)] as [string, number]]),
    ['mlp.gate_proj.weight', upload(inter * h, true)], ['self_attn.q_proj.weight', upload(qd * h, true)],
  ];
  const [name, bytes] = uploads.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { weightBytes: Math.round(c.layers * layer + embed + head + 4 * h), largestTensor: { name, bytes: Math.round(bytes) } };
}
