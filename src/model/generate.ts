// Autoregressive generation with a KV cache: one prefill of the prompt, then one token per step.
// Greedy decoding stays on the GPU: each step's argmax feeds the next step's embedding directly, so step
// i+1 is recorded and submitted while the GPU still runs step i, and the CPU reads token i (for the
// callback and the stop check) only afterwards. A step recorded past a stop token is discarded.
// Sampling (temperature > 0) reads each step's logits back and draws on the CPU.
import type { Tensor } from '../gpu';
import { argmaxRows } from '../ops';
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
  if (!(Number.isInteger(options.maxNewTokens) && options.maxNewTokens >= 1)) throw new RangeError(`generate: maxNewTokens must be an integer ≥ 1, got ${options.maxNewTokens}`);
  const cache = model.createCache(1, promptIds.length + options.maxNewTokens);
  try {
    return (options.temperature ?? 0) === 0 ? await greedy(model, promptIds, options, cache) : await sampled(model, promptIds, options, cache);
  } finally {
    model.freeCache(cache);
  }
}

type Cache = ReturnType<LlamaModel['createCache']>;

async function sampled(model: LlamaModel, promptIds: ArrayLike<number>, options: GenerateOptions, cache: Cache): Promise<number[]> {
  const stop = new Set(options.stopTokenIds ?? model.config.eosTokenIds);
  const random = seededRandom(options.seed ?? 0);
  const out: number[] = [];
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
}

async function greedy(model: LlamaModel, promptIds: ArrayLike<number>, options: GenerateOptions, cache: Cache): Promise<number[]> {
  const { rt } = model;
  const stop = new Set(options.stopTokenIds ?? model.config.eosTokenIds);
  const tokens = [rt.tensor([1], 'u32', 'next token 0'), rt.tensor([1], 'u32', 'next token 1')];
  /** Runs one step (prompt or the previous token on the GPU), argmax into tokens[slot], queues its readback. */
  // Returns the readback wrapped, so awaiting the launch does not also await the token.
  const launch = async (ids: ArrayLike<number> | Tensor, slot: number): Promise<{ token: Promise<ArrayLike<number>> }> => {
    const logits = await model.forward({ ids, batch: 1 }, cache, { logits: 'last' });
    const step = rt.step();
    await argmaxRows(rt, step, logits, tokens[slot]);
    step.submit();
    rt.free(logits);
    return { token: rt.read(tokens[slot]) }; // the copy is queued now, ahead of the next step
  };
  const out: number[] = [];
  try {
    let pending = await launch(promptIds, 0);
    for (let i = 0; ; i++) {
      options.signal?.throwIfAborted();
      const next = i + 1 < options.maxNewTokens ? await launch(tokens[i % 2], (i + 1) % 2) : null;
      const [id] = Array.from(await pending.token);
      out.push(id);
      // Every token reaches onToken, the last one too (maxNewTokens reached: no next step).
      const more = options.onToken?.(id, i) !== false && !stop.has(id);
      if (!next || !more) {
        await next?.token.catch(() => {}); // let the extra step finish before its buffers go back to the pool
        return out;
      }
      pending = next;
    }
  } finally {
    rt.free(...tokens);
  }
}
