// Loading a model through the cache: the first load downloads and quantizes, then stores our quantized export
// (src/model/quantized-files.ts) under (source, quantization spec); a later load reads it back from IndexedDB with no
// download and no quantization. A broken entry is a miss: the model is loaded from the source again and re-stored.
import type { Runtime } from '../gpu';
import { blobSource, exportQuantized, LlamaModel, type LoadOptions, type ModelSource } from '../model';
import type { QuantSpec } from '../quant';
import type { ModelCache } from './model-cache';

/** The cache key of a source's model in a quantization spec (the source's name holds the id and revision). */
export function cacheKey(source: ModelSource, quant: QuantSpec, quantizeLmHead = false): string {
  const q = [quant.codebook, quant.bits, quant.groupSize, quant.calibrate ?? 'none', quant.doubleQuant ? 'dq' : 'f32', quantizeLmHead ? 'head' : ''];
  return `${source.name}|${q.join('-')}`;
}

export async function loadCachedModel(
  rt: Runtime, source: ModelSource, cache: ModelCache, options: LoadOptions & { quant: QuantSpec },
): Promise<{ model: LlamaModel; fromCache: boolean }> {
  const key = cacheKey(source, options.quant, options.quantizeLmHead);
  const hit = await cache.get(key);
  if (hit) return { model: await LlamaModel.load(rt, blobSource(source.name, hit), { onProgress: options.onProgress, signal: options.signal }), fromCache: true };
  const model = await LlamaModel.load(rt, source, options);
  try {
    await cache.put(key, await exportQuantized(model));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, fromCache: false };
}
