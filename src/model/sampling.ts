// Picking the next token from a row of logits: greedy, or temperature → top-k → top-p with a seeded RNG.

export interface SamplingOptions {
  /** 0 (default) = greedy: the first index of the largest logit, as torch.argmax. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = all). */
  topP?: number;
  seed?: number;
}

/** mulberry32: small, seedable, the same in every JS engine. */
export { seededRandom } from '../gpu/random';

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export function sampleToken(logits: Float32Array, options: SamplingOptions, random: () => number): number {
  const temperature = options.temperature ?? 0;
  if (temperature < 0 || !Number.isFinite(temperature)) throw new RangeError(`temperature must be ≥ 0, got ${temperature}`);
  if (temperature === 0) return argmax(logits);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  let order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  if (topK > 0) order = order.slice(0, topK);
  const max = logits[order[0]];
  const weights = order.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = weights.reduce((a, w) => a + w, 0);
  let kept = order.length;
  if (topP < 1) {
    let cumulative = 0;
    for (kept = 0; kept < order.length; ) {
      cumulative += weights[kept++] / total;
      if (cumulative >= topP) break;
    }
  }
  const keptTotal = weights.slice(0, kept).reduce((a, w) => a + w, 0);
  let r = random() * keptTotal;
  for (let j = 0; j < kept; j++) {
    r -= weights[j];
    if (r < 0) return order[j];
  }
  return order[kept - 1];
}
