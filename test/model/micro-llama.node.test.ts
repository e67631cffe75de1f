// The real model micro-llama-6m from the data directory (QLORA_DATA_DIR; Node only, .node.test.ts: it lives outside the
// Vite root):
// its tokenizer's corpus token counts, its greedy continuations (metrics.json) and its validation loss
// on each corpus's first 256-token window (transformers, test/fixtures/micro-llama-6m.json). The full-corpus
// losses of metrics.json take minutes on SwiftShader; they are checked on the H100 (BENCHMARKS.md).
import { describe, expect, it } from 'vitest';
import { generateTokens, LlamaModel, loadTokenizer, nodeDirSource, perplexity, type ModelSource, type TextTokenizer } from '../../src/model';
import { testRuntime } from '../helpers/gpu';
import { DATA_DIR, hasDataDir, readText } from '../helpers/model-files';
import fixture from '../fixtures/micro-llama-6m.json';

const MODEL_DIR = `${DATA_DIR}/models/micro-llama-6m`;
const CORPORA = ['war_and_peace', 'sotu', 'tinyshakespeare'] as const;

/** The validation split of metrics.json: from the last newline at or before 90 % of the characters. */
function validationText(text: string): string {
  return text.slice(text.lastIndexOf('\n', Math.floor(0.9 * text.length)));
}

describe.runIf(hasDataDir('micro-llama-6m'))('micro-llama-6m (data directory)', () => {
  let source: ModelSource;
  let tokenizer: TextTokenizer;
  let metrics: { greedy: Record<string, { ids: number[] }> };
  const setup = async () => {
    source ??= await nodeDirSource(MODEL_DIR);
    tokenizer ??= await loadTokenizer(source);
    metrics ??= JSON.parse(await readText(`${MODEL_DIR}/metrics.json`));
  };

  it('its tokenizer encodes each validation split to the token count of metrics.json', async () => {
    await setup();
    for (const corpus of CORPORA) {
      const ids = tokenizer.encode(validationText(await readText(`${DATA_DIR}/data/${corpus}.txt`)));
      expect(ids.length, corpus).toBe(fixture[corpus].valid_tokens);
      expect(ids.slice(0, 8), corpus).toEqual(fixture[corpus].first_window_ids);
    }
  });

  it('renders its chat template', async () => {
    await setup();
    const text = tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    expect(text).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(tokenizer.encode(text, { addSpecialTokens: false }).slice(0, 1)).toEqual([1]);
  });

  it('greedy continuations equal the token ids in metrics.json', async () => {
    await setup();
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, source);
    try {
      for (const [prompt, { ids }] of Object.entries(metrics.greedy)) {
        const promptIds = tokenizer.encode(prompt);
        const generated = await generateTokens(model, promptIds, { maxNewTokens: ids.length - promptIds.length, stopTokenIds: [] });
        expect([...promptIds, ...generated], prompt).toEqual(ids);
      }
    } finally {
      model.dispose();
    }
  });

  for (const corpus of CORPORA) {
    it(`${corpus}: the first 256-token validation window has transformers’ loss within 1e-4 nats`, async () => {
      await setup();
      const rt = await testRuntime();
      const model = await LlamaModel.load(rt, source);
      try {
        const ids = tokenizer.encode(validationText(await readText(`${DATA_DIR}/data/${corpus}.txt`)));
        const result = await perplexity(model, ids.slice(0, 256), { window: 256, fullWindowsOnly: true });
        expect(result.tokens).toBe(255);
        expect(Math.abs(result.meanLoss - fixture[corpus].first_window_loss)).toBeLessThan(1e-4);
      } finally {
        model.dispose();
      }
    });
  }
});
