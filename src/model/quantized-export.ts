// Writing a model as our quantized files (the format quantized-files.ts describes and reads): codes and statistics
// as they are on the GPU, with quantization.json and the base's config and tokenizer files.
import type { Tensor } from '../gpu';
import { codeLevels, quantizedShapes, type QuantizedWeight, type QuantSpec } from '../quant';
import { ModelFormatError } from './errors';
import { firstQuantized, pieces, type LinearWeight } from './linear';
import type { LlamaModel } from './llama';
import { MANIFEST, QUANTIZED_FORMAT, QUANTIZED_VERSION, type QuantizedManifest } from './quantized-files';
import { shardedSafetensors, type NamedTensor } from './safetensors-write';
import { copyFiles, MODEL_FILES, type ModelSource } from './source';
import { HF_LINEAR, LINEARS, sharesEmbedding } from './weights';

const LAYOUT = 'For each quantized linear <name>.weight [out, in]: <name>.codes U32 [out, in*bits/32], row-major; each run '
  + 'of 32 codes of a row takes `bits` words (4-bit: 4 words of 8 codes; 2-bit: 2 words of 16; 3-bit: 2 words with the low '
  + '2 bits of 16 codes each, then 1 word with bit 2 of all 32), little-endian inside a word. <name>.stats F32 [out, in/G, 2] '
  + '= (s, o) per group of G inputs: w = s*levels[code] + o. Other tensors are F32 under their transformers names.';

/**
 * The model's weights as our quantized files (quantization.json, model.safetensors, or shards of at most
 * `maxShardBytes`, default 2 GB, with their index past that) plus the base's config and
 * tokenizer files from `source` (the model's own source by default). Every linear but the LM head must be
 * quantized in one spec. The manifest lists the adapters mergeAdapters folded in.
 */
export async function exportQuantized(model: LlamaModel, options: { source?: ModelSource | null; maxShardBytes?: number } = {}): Promise<Record<string, Blob>> {
  const rt = model.rt;
  const w = model.weights;
  // Groups of tensors that stay in one file when the export is sharded: a linear's codes and statistics together.
  const groups: NamedTensor[][] = [];
  let spec: QuantSpec | null = null;
  // A tensor of a weight split into row blocks is its blocks' tensors one after another: the blocks start on rows
  // where the codes, statistics and (8-bit) statistic blocks all begin afresh (row-blocks.ts), so that is the whole.
  const read = async (name: string, parts: Tensor[], shape: number[]): Promise<NamedTensor> => {
    const datas = [];
    for (const t of parts) datas.push((await rt.read(t)) as Float32Array | Uint32Array);
    const u32 = datas[0] instanceof Uint32Array;
    const data = u32 ? new Uint32Array(datas.reduce((a, d) => a + d.length, 0)) : new Float32Array(datas.reduce((a, d) => a + d.length, 0));
    let at = 0;
    for (const d of datas) (data.set(d, at), (at += d.length));
    return { name, shape, data, dtype: u32 ? 'U32' : 'F32' };
  };
  const one = async (name: string, t: Tensor) => groups.push([await read(name, [t], [...t.shape])]);
  const linear = async (name: string, l: LinearWeight, mustQuantize: boolean) => {
    const parts = pieces(l).map((p) => p.part);
    const q = firstQuantized(l);
    if (!q) {
      if (mustQuantize) throw new ModelFormatError(MANIFEST, `${name} is not quantized: only a quantized model exports in this format`);
      groups.push([await read(`${name}.weight`, parts.map((p) => p.weight as Tensor), [l.out, l.in])]);
      return;
    }
    const s = q.spec;
    if (spec && JSON.stringify(spec) !== JSON.stringify(s)) throw new ModelFormatError(MANIFEST, `${name} is quantized as ${JSON.stringify(s)}, other linears as ${JSON.stringify(spec)}`);
    spec = s;
    const weights = parts.map((p) => p.weight as QuantizedWeight);
    const shapes = quantizedShapes(s, l.out, l.in);
    const group = [await read(`${name}.codes`, weights.map((w) => w.codes), shapes.codes), await read(`${name}.stats`, weights.map((w) => w.stats), shapes.stats)];
    if (shapes.statBlocks) group.push(await read(`${name}.stat_blocks`, weights.map((w) => w.statBlocks!), shapes.statBlocks));
    groups.push(group);
  };
  await linear('model.embed_tokens', w.embed, false);
  for (let l = 0; l < w.layers.length; l++) {
    const layer = w.layers[l];
    await one(`model.layers.${l}.input_layernorm.weight`, layer.inputNorm);
    await one(`model.layers.${l}.post_attention_layernorm.weight`, layer.postNorm);
    for (const key of LINEARS) await linear(`model.layers.${l}.${HF_LINEAR[key]}`, layer[key], true);
  }
  await one('model.norm.weight', w.norm);
  if (!sharesEmbedding(w)) await linear('lm_head', w.lmHead, false);
  const quant = spec as QuantSpec | null;
  if (!quant) throw new ModelFormatError(MANIFEST, 'the model has no quantized linear');
  const manifest: QuantizedManifest = {
    format: QUANTIZED_FORMAT, version: QUANTIZED_VERSION, quant, levels: [...codeLevels(quant)],
    lmHeadQuantized: !!firstQuantized(w.lmHead) && !sharesEmbedding(w), embedQuantized: !!firstQuantized(w.embed), merged: model.merges, layout: LAYOUT,
  };
  const files: Record<string, Blob> = {
    [MANIFEST]: new Blob([JSON.stringify(manifest, null, 2) + '\n'], { type: 'application/json' }),
    ...shardedSafetensors(groups, { format: QUANTIZED_FORMAT }, options.maxShardBytes),
  };
  const source = options.source === undefined ? model.source : options.source;
  if (source) Object.assign(files, await copyFiles(source, MODEL_FILES));
  if (!files['config.json']) throw new ModelFormatError('config.json', 'the model has no source to copy config.json from: pass options.source');
  return files;
}
