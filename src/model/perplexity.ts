// Language-model loss over a long token sequence with a sliding window. Window w, stride s ≤ w: windows
// start at 0, s, 2s, …; each scores the tokens it predicts that no earlier window scored, so every token
// after the first is scored once when s < w. With s = w (non-overlapping windows) the first token of each
// window has no context inside it and is not scored.
import { bufferLimit } from '../gpu';
import { crossEntropyForward, IGNORE_TARGET } from '../ops';
import type { LlamaModel } from './llama';

export interface PerplexityOptions {
  window: number;
  /** Default: window. */
  stride?: number;
  /** Skip a last window shorter than `window` (default false). */
  fullWindowsOnly?: boolean;
  /** Windows per forward pass (default: as many as keep the logits under ~64 MB). */
  batch?: number;
  onProgress?: (p: { windows: number; total: number }) => void;
}

export interface PerplexityResult {
  /** Token-weighted mean loss in nats, and its exp. */
  meanLoss: number;
  perplexity: number;
  tokens: number;
  /** Per window: summed loss and scored tokens. */
  windows: { loss: number; tokens: number }[];
}

export async function perplexity(model: LlamaModel, ids: ArrayLike<number>, options: PerplexityOptions): Promise<PerplexityResult> {
  const { window } = options;
  const stride = options.stride ?? window;
  if (!(window >= 2 && stride >= 1 && stride <= window)) throw new RangeError(`perplexity: need window ≥ 2 and 1 ≤ stride ≤ window (got ${window}, ${stride})`);
  const spans: { start: number; end: number; from: number }[] = [];
  let prevEnd = 0;
  for (let start = 0; start + 1 < ids.length; start += stride) {
    const end = Math.min(start + window, ids.length);
    if (end - start < window && options.fullWindowsOnly) break;
    spans.push({ start, end, from: Math.max(start + 1, prevEnd) });
    prevEnd = end;
    if (end === ids.length) break;
  }
  const rt = model.rt;
  const vocab = model.config.vocabSize;
  const perPass = options.batch ?? logitRows(window, vocab, bufferLimit(model.rt));
  const windows: { loss: number; tokens: number }[] = [];
  for (let i = 0; i < spans.length; ) {
    // A batch holds windows of one length: full ones together, a short last one alone.
    const len = spans[i].end - spans[i].start;
    const group = [];
    while (i < spans.length && group.length < perPass && spans[i].end - spans[i].start === len) group.push(spans[i++]);
    const B = group.length;
    const batchIds = new Uint32Array(B * len);
    const targets = new Uint32Array(B * len).fill(IGNORE_TARGET);
    group.forEach((s, b) => {
      for (let t = 0; t < len; t++) batchIds[b * len + t] = ids[s.start + t];
      // Row t predicts token t+1; score it when t+1 is in [from, end).
      for (let t = s.from - s.start - 1; t < len - 1; t++) targets[b * len + t] = ids[s.start + t + 1];
    });
    const cache = model.createCache(B, len);
    const targetT = rt.upload(targets, [B * len], 'targets');
    const lossT = rt.tensor([B * len], 'f32', 'losses');
    try {
      const logits = await model.forward({ ids: batchIds, batch: B }, cache, { logits: 'all' });
      const step = rt.step();
      await crossEntropyForward(rt, step, logits, targetT, lossT);
      step.submit();
      rt.free(logits);
      const losses = (await rt.read(lossT)) as Float32Array;
      group.forEach((s, b) => {
        let sum = 0;
        for (let t = 0; t < len; t++) sum += losses[b * len + t];
        windows.push({ loss: sum, tokens: s.end - s.from });
      });
    } finally {
      model.freeCache(cache);
      rt.free(targetT, lossT);
    }
    options.onProgress?.({ windows: windows.length, total: spans.length });
  }
  const tokens = windows.reduce((a, w) => a + w.tokens, 0);
  const meanLoss = windows.reduce((a, w) => a + w.loss, 0) / tokens;
  return { meanLoss, perplexity: Math.exp(meanLoss), tokens, windows };
}

/** Rows of `tokens` tokens whose f32 logits over a vocabulary of `vocab` fit 64 MiB, or `limit` bytes if less (at
 *  least 1): how many rows a forward-only pass (perplexity windows, evaluation batches) takes at once. */
export function logitRows(tokens: number, vocab: number, limit = Infinity): number {
  return Math.max(1, Math.floor(Math.min(64 << 20, limit) / (tokens * vocab * 4)));
}
