// The end-to-end suite of `npm run bench`: the demo's embedded model (served at /models/qlora-web-demo-5m) through
// createFinetuner, in a worker and in the page's thread: cold load (download, quantize, cache), warm load, QLoRA
// fine-tuning steps, greedy decoding and a perplexity pass, each timed by wall clock as a user of the library sees it.
import { createFinetuner } from '../src';

export interface E2eRow {
  where: 'worker' | 'page';
  coldLoadSeconds: number;
  warmLoadSeconds: number;
  steps: number;
  /** Tokens per step (batch × sequence length) and the median seconds per step after the first. */
  tokensPerStep: number;
  secondsPerStep: number;
  trainTokensPerSecond: number;
  firstLoss: number;
  lastLoss: number;
  decodeTokens: number;
  decodeTokensPerSecond: number;
  evalTokens: number;
  evalTokensPerSecond: number;
}

const TEXT = Array.from({ length: 120 }, (_, i) =>
  `Day ${i + 1}. The wind held from the ${['north', 'east', 'south', 'west'][i % 4]} and the sea was ${['calm', 'rough', 'grey', 'bright'][(i * 3) % 4]}. We made ${(i % 9) + 3} knots and saw ${(i * 7) % 5} sails.`,
).join('\n');

export async function runE2e(where: 'worker' | 'page', steps: number, log: (line: string) => void): Promise<E2eRow> {
  const database = `qlora-web-bench-${where}-${Date.now()}`;
  const model = `${location.origin}/models/qlora-web-demo-5m`;
  const quant = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' } as const;
  const seconds = async <T>(body: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const r = await body();
    return [r, (performance.now() - t0) / 1e3];
  };
  const first = await createFinetuner({ database, worker: where === 'worker' });
  const [, coldLoadSeconds] = await seconds(() => first.load({ model, quant }));
  await first.dispose();
  const ft = await createFinetuner({ database, worker: where === 'worker' });
  try {
    const [info, warmLoadSeconds] = await seconds(() => ft.load({ model, quant }));
    if (!info.fromCache) throw new Error('the second load did not come from the cache');
    log(`${where}: load cold ${coldLoadSeconds.toFixed(1)} s, warm ${warmLoadSeconds.toFixed(1)} s`);
    const batchSize = 2;
    const seqLen = 64;
    const stepEnds: number[] = [];
    const summary = await ft.train(
      { data: { text: TEXT }, method: 'qlora', rank: 8, alpha: 16, steps, batchSize, seqLen, lr: 5e-3, checkpointEvery: 0 },
      (p) => p.phase === 'train' && p.loss !== undefined && stepEnds.push(performance.now()),
    );
    const gaps = stepEnds.slice(1).map((t, i) => (t - stepEnds[i]) / 1e3).sort((a, b) => a - b);
    const secondsPerStep = gaps.length ? gaps[gaps.length >> 1] : summary.seconds / steps;
    // Tokens counted as streamed pieces (one per token for this ASCII text; generation may stop early at EOS).
    let decodeTokens = 0;
    const [, decodeSeconds] = await seconds(() => ft.generate('Day 7. The wind', { maxTokens: 32, temperature: 0 }, () => decodeTokens++));
    const held = TEXT.slice(0, 2000);
    const [e, evalSeconds] = await seconds(() => ft.evaluate(held, { window: 128 }));
    const row: E2eRow = {
      where, coldLoadSeconds, warmLoadSeconds, steps, tokensPerStep: batchSize * seqLen, secondsPerStep,
      trainTokensPerSecond: (batchSize * seqLen) / secondsPerStep,
      firstLoss: summary.losses[0].loss, lastLoss: summary.losses.at(-1)!.loss,
      decodeTokens, decodeTokensPerSecond: decodeTokens / decodeSeconds,
      evalTokens: e.tokens, evalTokensPerSecond: e.tokens / evalSeconds,
    };
    log(`${where}: ${steps} steps of ${row.tokensPerStep} tokens, ${secondsPerStep.toFixed(3)} s/step (${row.trainTokensPerSecond.toFixed(0)} tokens/s), ` +
      `loss ${row.firstLoss.toFixed(3)} → ${row.lastLoss.toFixed(3)}; decode ${row.decodeTokensPerSecond.toFixed(1)} tokens/s; ` +
      `perplexity pass ${row.evalTokensPerSecond.toFixed(0)} tokens/s`);
    return row;
  } finally {
    await ft.dispose();
  }
}
