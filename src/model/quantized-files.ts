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
import type { Runtime } from '../gpu';
import { quantizedShapes, validateSpec, type QuantSpec } from '../quant';
import { ModelFormatError } from './errors';
import type { LinearWeight } from './linear';
import { uploadQuantized } from './row-blocks';
import type { SafetensorsTensor } from './safetensors';
import { readJson, type ModelSource } from './source';

export const QUANTIZED_FORMAT = 'qlora-web-quantized';
export const QUANTIZED_VERSION = 1;
export const MANIFEST = 'quantization.json';

/** An adapter folded into the offsets (mergeAdapters): the model's manifest lists them in order. */
export interface MergeRecord {
  method: string;
  rank: number;
  alpha: number;
  groupSize: number | null;
  iec: boolean;
}

export interface QuantizedManifest {
  format: typeof QUANTIZED_FORMAT;
  version: number;
  quant: QuantSpec;
  /** The codebook's levels, level[q] for each code q (informative; the loader derives them from `quant`). */
  levels: number[];
  lmHeadQuantized: boolean;
  /** The token embedding stored quantized too (its .codes and .stats; a tied LM head reads it). Absent: f32. */
  embedQuantized?: boolean;
  /** The adapters folded into the offsets (mergeAdapters), in order; empty for a model that was only quantized. */
  merged: MergeRecord[];
  /** The layout, in words, for readers other than ours. */
  layout: string;
}


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
  if (json.embedQuantized !== undefined && typeof json.embedQuantized !== 'boolean') throw new ModelFormatError(MANIFEST, "field 'embedQuantized' must be true or false when present");
  return json as unknown as QuantizedManifest;
}

/** Collects a quantized linear's tensors as they stream in and builds its QuantizedWeight once all are there. */
export class QuantizedReader {
  private readonly partial = new Map<string, Map<string, SafetensorsTensor>>();

  constructor(private readonly rt: Runtime, private readonly spec: QuantSpec, private readonly file: string) {}

  /** The parts a quantized `<name>.weight` [out, in] is stored as, with their dtypes and shapes. */
  parts(out: number, inFeatures: number): Map<string, { dtype: 'U32' | 'F32'; shape: number[] }> {
    const shapes = quantizedShapes(this.spec, out, inFeatures);
    const m = new Map<string, { dtype: 'U32' | 'F32'; shape: number[] }>([
      ['codes', { dtype: 'U32', shape: shapes.codes }],
      ['stats', { dtype: this.spec.doubleQuant ? 'U32' : 'F32', shape: shapes.stats }],
    ]);
    if (shapes.statBlocks) m.set('stat_blocks', { dtype: 'F32', shape: shapes.statBlocks });
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
    const host = {
      codes: got.get('codes')!.data as Uint32Array, stats: got.get('stats')!.data as Float32Array | Uint32Array,
      statBlocks: got.get('stat_blocks')?.data as Float32Array | undefined,
    };
    return uploadQuantized(this.rt, host, this.spec, out, inFeatures, weightName);
  }

  /** The first linear with parts still missing, for the loader's error. */
  incomplete(): string | null {
    return this.partial.keys().next().value ?? null;
  }
}
