// Our quantized model as files (e.g. after a QA-LoRA merge): `LlamaModel.load` reads them back as they are, with
// no re-quantization. Beside the base's config.json and tokenizer files:
//   quantization.json   this format's description (QuantizedManifest): its name and version, the QuantSpec, the
//                       codebook's levels, which linears are quantized, and, after a merge, what was merged
//   model.safetensors   for each quantized linear `<name>.weight` [out, in] (transformers' name):
//                         <name>.codes        U32 [out, in·bits/32]  the packed codes (src/quant/format.ts)
//                         <name>.stats        F32 [out, in/G, 2]     (s, o) per group: ŵ = s·level[q] + o
//                                             (with doubleQuant: U32 [⌈groups/2⌉], 8-bit codes, and
//                         <name>.stat_blocks  F32 [⌈groups/256⌉, 4]  their per-256-group parameters)
//                       every other tensor (embedding, norms, an f32 LM head) F32 under its own name.
import type { Runtime, Tensor } from '../gpu';
import { codeLevels, validateSpec, wordsPerRow, type QuantizedWeight, type QuantSpec } from '../quant';
import { ModelFormatError } from './errors';
import type { LinearWeight } from './linear';
import type { LlamaModel, MergeRecord } from './llama';
import { safetensorsParts, type NamedTensor } from './safetensors-write';
import type { SafetensorsTensor } from './safetensors';
import { copyFiles, MODEL_FILES, readJson, type ModelSource } from './source';
import { HF_LINEAR, LINEARS } from './weights';

export const QUANTIZED_FORMAT = 'qlora-web-quantized';
export const QUANTIZED_VERSION = 1;
export const MANIFEST = 'quantization.json';

export interface QuantizedManifest {
  format: typeof QUANTIZED_FORMAT;
  version: number;
  quant: QuantSpec;
  /** The codebook's levels, level[q] for each code q (informative; the loader derives them from `quant`). */
  levels: number[];
  lmHeadQuantized: boolean;
  /** The adapters folded into the offsets (mergeAdapters), in order; empty for a model that was only quantized. */
  merged: MergeRecord[];
  /** The layout, in words, for readers other than ours. */
  layout: string;
}

const LAYOUT = 'For each quantized linear <name>.weight [out, in]: <name>.codes U32 [out, in*bits/32], row-major; each run '
  + 'of 32 codes of a row takes `bits` words (4-bit: 4 words of 8 codes; 2-bit: 2 words of 16; 3-bit: 2 words with the low '
  + '2 bits of 16 codes each, then 1 word with bit 2 of all 32), little-endian inside a word. <name>.stats F32 [out, in/G, 2] '
  + '= (s, o) per group of G inputs: w = s*levels[code] + o. Other tensors are F32 under their transformers names.';


/** The manifest of a quantized source, or null for an ordinary checkpoint; a bad manifest is a ModelFormatError. */
export async function readManifest(source: ModelSource): Promise<QuantizedManifest | null> {
  const json = await readJson(source, MANIFEST);
  if (!json) return null;
  if (json.format !== QUANTIZED_FORMAT) throw new ModelFormatError(MANIFEST, `format is ${JSON.stringify(json.format)}, not '${QUANTIZED_FORMAT}'`);
  if (json.version !== QUANTIZED_VERSION) {
    throw new ModelFormatError(MANIFEST, `version ${JSON.stringify(json.version)} is not one this library reads (${QUANTIZED_VERSION}); export it again from the adapter`);
  }
  const quant = json.quant as QuantSpec;
  try {
    validateSpec(quant, MANIFEST);
  } catch (e) {
    throw new ModelFormatError(MANIFEST, (e as Error).message);
  }
  if (typeof json.lmHeadQuantized !== 'boolean') throw new ModelFormatError(MANIFEST, "field 'lmHeadQuantized' must be true or false");
  return json as unknown as QuantizedManifest;
}

/** Collects a quantized linear's tensors as they stream in and builds its QuantizedWeight once all are there. */
export class QuantizedReader {
  private readonly partial = new Map<string, Map<string, SafetensorsTensor>>();

  constructor(private readonly rt: Runtime, private readonly spec: QuantSpec, private readonly file: string) {}

  /** The parts a quantized `<name>.weight` [out, in] is stored as, with their dtypes and shapes. */
  parts(out: number, inFeatures: number): Map<string, { dtype: 'U32' | 'F32'; shape: number[] }> {
    const groups = (out * inFeatures) / this.spec.groupSize;
    const m = new Map<string, { dtype: 'U32' | 'F32'; shape: number[] }>([['codes', { dtype: 'U32', shape: [out, wordsPerRow(inFeatures, this.spec.bits)] }]]);
    if (this.spec.doubleQuant) {
      m.set('stats', { dtype: 'U32', shape: [Math.ceil(groups / 2)] });
      m.set('stat_blocks', { dtype: 'F32', shape: [Math.ceil(groups / 256), 4] });
    } else {
      m.set('stats', { dtype: 'F32', shape: [out, inFeatures / this.spec.groupSize, 2] });
    }
    return m;
  }

  /** Takes one part of `weightName` [out, in]; returns the linear when this part completes it. */
  add(weightName: string, part: string, t: SafetensorsTensor, out: number, inFeatures: number): LinearWeight | null {
    const parts = this.parts(out, inFeatures);
    const want = parts.get(part);
    if (!want) throw new ModelFormatError(this.file, `is not a part of a quantized linear (codes, stats${this.spec.doubleQuant ? ', stat_blocks' : ''})`, t.name);
    if (t.dtype !== want.dtype || t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i])) {
      throw new ModelFormatError(this.file, `is ${t.dtype} [${t.shape}], ${MANIFEST}'s format and config.json need ${want.dtype} [${want.shape}]`, t.name);
    }
    if (t.dtype === 'F32') {
      const bad = t.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new ModelFormatError(this.file, `holds a non-finite statistic (${t.data[bad]}) at index ${bad}`, t.name);
    }
    const got = this.partial.get(weightName) ?? new Map<string, SafetensorsTensor>();
    if (got.has(part)) throw new ModelFormatError(this.file, 'appears twice', t.name);
    got.set(part, t);
    this.partial.set(weightName, got);
    if (got.size < parts.size) return null;
    this.partial.delete(weightName);
    const base = weightName.replace(/\.weight$/, '');
    const upload = (p: string) => this.rt.upload(got.get(p)!.data, got.get(p)!.shape, `${base}.${p}`);
    const codes = upload('codes');
    const stats = upload('stats');
    const statBlocks = this.spec.doubleQuant ? upload('stat_blocks') : undefined;
    const weight: QuantizedWeight = { name: weightName, spec: this.spec, out, inFeatures, codes, stats, ...(statBlocks ? { statBlocks } : {}) };
    return { kind: 'quantized', name: weightName, out, in: inFeatures, weight };
  }

  /** The first linear with parts still missing, for the loader's error. */
  incomplete(): string | null {
    return this.partial.keys().next().value ?? null;
  }
}

/**
 * The model's weights as our quantized files (quantization.json, model.safetensors) plus the base's config and
 * tokenizer files from `source` (the model's own source by default). Every linear but the LM head must be
 * quantized in one spec. The manifest lists the adapters mergeAdapters folded in.
 */
export async function exportQuantized(model: LlamaModel, options: { source?: ModelSource | null } = {}): Promise<Record<string, Blob>> {
  const rt = model.rt;
  const w = model.weights;
  const tensors: NamedTensor[] = [];
  let spec: QuantSpec | null = null;
  const read = async (name: string, t: Tensor) => {
    const data = await rt.read(t);
    tensors.push({ name, shape: [...t.shape], data: data as Float32Array | Uint32Array, dtype: data instanceof Uint32Array ? 'U32' : 'F32' });
  };
  const linear = async (name: string, l: LinearWeight, mustQuantize: boolean) => {
    if (l.kind === 'dense') {
      if (mustQuantize) throw new ModelFormatError(MANIFEST, `${name} is not quantized: only a quantized model exports in this format`);
      await read(`${name}.weight`, l.weight);
      return;
    }
    const s = l.weight.spec;
    if (spec && JSON.stringify(spec) !== JSON.stringify(s)) throw new ModelFormatError(MANIFEST, `${name} is quantized as ${JSON.stringify(s)}, other linears as ${JSON.stringify(spec)}`);
    spec = s;
    await read(`${name}.codes`, l.weight.codes);
    await read(`${name}.stats`, l.weight.stats);
    if (l.weight.statBlocks) await read(`${name}.stat_blocks`, l.weight.statBlocks);
  };
  await read('model.embed_tokens.weight', w.embed);
  for (let l = 0; l < w.layers.length; l++) {
    const layer = w.layers[l];
    await read(`model.layers.${l}.input_layernorm.weight`, layer.inputNorm);
    await read(`model.layers.${l}.post_attention_layernorm.weight`, layer.postNorm);
    for (const key of LINEARS) await linear(`model.layers.${l}.${HF_LINEAR[key]}`, layer[key], true);
  }
  await read('model.norm.weight', w.norm);
  const tiedDense = w.lmHead.kind === 'dense' && w.lmHead.weight === w.embed;
  if (!tiedDense) await linear('lm_head', w.lmHead, false);
  const quant = spec as QuantSpec | null;
  if (!quant) throw new ModelFormatError(MANIFEST, 'the model has no quantized linear');
  const manifest: QuantizedManifest = {
    format: QUANTIZED_FORMAT, version: QUANTIZED_VERSION, quant, levels: [...codeLevels(quant)],
    lmHeadQuantized: w.lmHead.kind === 'quantized', merged: model.merges, layout: LAYOUT,
  };
  const files: Record<string, Blob> = {
    [MANIFEST]: new Blob([JSON.stringify(manifest, null, 2) + '\n'], { type: 'application/json' }),
    'model.safetensors': new Blob(safetensorsParts(tensors, { format: QUANTIZED_FORMAT }) as BlobPart[]),
  };
  const source = options.source === undefined ? model.source : options.source;
  if (source) Object.assign(files, await copyFiles(source, MODEL_FILES));
  if (!files['config.json']) throw new ModelFormatError('config.json', 'the model has no source to copy config.json from: pass options.source');
  return files;
}
