// Loading a model through the cache: the first load downloads and quantizes, then stores our quantized export
// (src/model/quantized-files.ts) under (source, quantization spec); a later load reads it back from IndexedDB with no
// download and no quantization. A broken entry, or one whose files describe another spec, is a miss: the model is
// loaded from the source again and re-stored. The finetuner loads through here too, adding its upstream check.
import type { Runtime } from '../gpu';
import { blobSource, exportQuantized, LlamaModel, readManifest, type LoadOptions, type ModelSize, type ModelSource } from '../model';
import { specKey, type QuantSpec } from '../quant';
import type { ModelCache } from './model-cache';

/** The cache key of a source's model in a quantization spec (the source's name holds the id and revision); a
 *  quantized embedding adds '-embed' (keys of models with an f32 embedding are as they always were). */
export function cacheKey(source: ModelSource, quant: QuantSpec, quantizeLmHead = false, embedding: LoadOptions['embedding'] = 'f32'): string {
  return `${source.name}|${specKey(quant)}-${quantizeLmHead ? 'head' : ''}${embedding === 'quantized' ? '-embed' : ''}`;
}

export interface CachedLoadOptions extends LoadOptions {
  quant: QuantSpec;
  /** Asked of a hit before it is used: a reason to drop it and load from the source again (e.g. it changed
   *  upstream), or null to use it. */
  stale?: (files: Record<string, Blob>) => Promise<string | null>;
  /** Told when a hit is dropped, and why (a sentence: what `stale` said, or what the files hold instead). */
  onDropped?: (reason: string) => void;
  /** Files stored beside the quantized model (read back with the hit). */
  extraFiles?: () => Promise<Record<string, Blob>>;
  /** Progress of reading a hit (phase 'cache' in the finetuner). */
  onCacheRead?: LoadOptions['onProgress'];
  /** Progress of storing the entry. */
  onStore?: (p: { loaded: number; total: number; file: string }) => void;
}

/** Why a hit's files are not the model asked for, or null when they are (the cache binds each manifest to its key; this
 *  checks what the files themselves say). */
async function mismatch(files: Record<string, Blob>, quant: QuantSpec, quantizeLmHead: boolean, embedding: LoadOptions['embedding']): Promise<string | null> {
  const stored = await readManifest(blobSource('cache', files)).catch((e: Error) => e);
  if (stored === null || stored instanceof Error) return `the cached model's quantization.json is ${stored ? `unreadable (${stored.message})` : 'missing'}`;
  if (specKey(stored.quant) !== specKey(quant)) return `the cached model is quantized as ${specKey(stored.quant)}, not ${specKey(quant)}`;
  const embedQuantized = embedding === 'quantized';
  if (!!stored.embedQuantized !== embedQuantized) return `the cached model's embedding is ${stored.embedQuantized ? '' : 'not '}quantized`;
  // A tied head reading a quantized embedding is stored as that embedding, not as a head of its own.
  if (stored.lmHeadQuantized !== quantizeLmHead && !(embedQuantized && !stored.lmHeadQuantized)) {
    return `the cached model's LM head is ${stored.lmHeadQuantized ? '' : 'not '}quantized`;
  }
  return null;
}

export async function loadCachedModel(rt: Runtime, source: ModelSource, cache: ModelCache, options: CachedLoadOptions): Promise<{ model: LlamaModel; fromCache: boolean }> {
  const { quant, quantizeLmHead = false, stale, onDropped, extraFiles, onCacheRead, onStore, ...load } = options;
  const key = cacheKey(source, quant, quantizeLmHead, load.embedding);
  const hit = await cache.get(key);
  const dropped = hit && ((await mismatch(hit, quant, quantizeLmHead, load.embedding)) ?? (await stale?.(hit)) ?? null);
  if (hit && !dropped) {
    return { model: await LlamaModel.load(rt, blobSource(source.name, hit), { onProgress: onCacheRead ?? load.onProgress, signal: load.signal }), fromCache: true };
  }
  if (dropped) {
    onDropped?.(dropped);
    await cache.delete(key);
  }
  // The entry's estimated size against the quota, before any weight is downloaded.
  const beforeDownload = async (size: ModelSize) => {
    await load.beforeDownload?.(size);
    await cache.checkSpace(size.weightBytes);
  };
  const model = await LlamaModel.load(rt, source, { ...load, quant, quantizeLmHead, beforeDownload });
  try {
    await cache.put(key, { ...(await exportQuantized(model)), ...(await extraFiles?.()) }, onStore);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, fromCache: false };
}
