// Autoregressive generation with a KV cache: one prefill of the prompt, then one token per step.
import type { LlamaModel } from './llama';
import { sampleToken, seededRandom, type SamplingOptions } from './sampling';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Stop when one of these is produced (it is included in the result); default: the config's EOS ids. */
  stopTokenIds?: number[];
  /** Called with each new token id as it is produced; return false to stop early. */
  onToken?: (id: number, index: number) => void | boolean;
  signal?: AbortSignal;
}

/** The new token ids (prompt excluded) for one sequence. */
export async function generateTokens(model: LlamaModel, promptIds: ArrayLike<number>, options: GenerateOptions): Promise<number[]> {
  if (promptIds.length === 0) throw new RangeError('generate: the prompt has no tokens (add a BOS token?)');
  if (!(options.maxNewTokens >= 1)) throw new RangeError(`generate: maxNewTokens must be ≥ 1, got ${options.maxNewTokens}`);
  const stop = new Set(options.stopTokenIds ?? model.config.eosTokenIds);
  const random = seededRandom(options.seed ?? 0);
  const cache = model.createCache(1, promptIds.length + options.maxNewTokens);
  const out: number[] = [];
  try {
    let input: ArrayLike<number> = promptIds;
    while (out.length < options.maxNewTokens) {
      options.signal?.throwIfAborted();
      const logitsT = await model.forward({ ids: input, batch: 1 }, cache, { logits: 'last' });
      const logits = (await model.rt.read(logitsT)) as Float32Array;
      model.rt.free(logitsT);
      const id = sampleToken(logits, options, random);
      out.push(id);
      if (options.onToken?.(id, out.length - 1) === false || stop.has(id)) break;
      input = [id];
    }
    return out;
  } finally {
    model.freeCache(cache);
  }
}
