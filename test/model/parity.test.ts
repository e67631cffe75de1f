// The forward pass against transformers (test/fixtures/llama, made by scripts/reference/make_fixtures.py):
// logits of a left-padded batch, unquantized and with NF4 G64 ICQ weights, and 32 greedy tokens.
import { describe, expect, it } from 'vitest';
import { generateTokens, LlamaModel, floatData, perplexity, readSafetensors, type ModelSource } from '../../src/model';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureSource } from '../helpers/model-files';

async function reference(source: ModelSource, file: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const f = await source.file(file);
  if (!f) throw new Error(`fixture ${file} missing`);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for await (const t of readSafetensors(f.stream(), file, f.size)) out.set(t.name, { shape: t.shape, data: floatData(t, file) });
  return out;
}

/** Logits of the fixture's [2, 12] batch, keeping only rows of real (unpadded) tokens. */
async function realRowLogits(model: LlamaModel, ids: Float32Array, mask: Float32Array, want: Float32Array) {
  const vocab = model.config.vocabSize;
  const cache = model.createCache(2, ids.length / 2);
  const logitsT = await model.forward({ ids: Array.from(ids), batch: 2, attentionMask: Array.from(mask) }, cache, { logits: 'all' });
  const got = (await model.rt.read(logitsT)) as Float32Array;
  model.rt.free(logitsT);
  model.freeCache(cache);
  const keep = (a: Float32Array) => Float32Array.from(Array.from(mask.keys()).filter((i) => mask[i]).flatMap((i) => Array.from(a.subarray(i * vocab, (i + 1) * vocab))));
  return { got: keep(got), want: keep(want) };
}

describe('LLaMA forward matches transformers', () => {
  for (const name of ['gqa', 'tied', 'llama3']) {
    it(`${name}: logits of a left-padded batch within 1e-4, and 32 greedy tokens`, async () => {
      const rt = await testRuntime();
      const source = await fixtureSource(name);
      const ref = await reference(source, 'reference.safetensors');
      const model = await LlamaModel.load(rt, source);
      try {
        const { got, want } = await realRowLogits(model, ref.get('input_ids')!.data, ref.get('attention_mask')!.data, ref.get('logits')!.data);
        expect(relativeError(got, want)).toBeLessThan(1e-4);
        const prompt = Array.from(ref.get('greedy_prompt')!.data);
        const ids = await generateTokens(model, prompt, { maxNewTokens: 32, stopTokenIds: [] });
        expect(ids).toEqual(Array.from(ref.get('greedy_ids')!.data));
      } finally {
        model.dispose();
      }
    });

    it(`${name}: NF4 G64 ICQ weights, logits within 1e-4 of transformers on our dequantized weights`, async () => {
      const rt = await testRuntime();
      const source = await fixtureSource(name);
      const ref = await reference(source, 'reference.safetensors');
      const refQ = await reference(source, 'reference-nf4-icq.safetensors');
      const model = await LlamaModel.load(rt, source, { quant: { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' } });
      try {
        expect(model.weights.layers[0].q.kind).toBe('quantized');
        const { got, want } = await realRowLogits(model, ref.get('input_ids')!.data, ref.get('attention_mask')!.data, refQ.get('logits')!.data);
        expect(relativeError(got, want)).toBeLessThan(1e-4);
        // Quantization moved the logits well beyond the tolerance, so the check above is not vacuous.
        const { want: f32 } = await realRowLogits(model, ref.get('input_ids')!.data, ref.get('attention_mask')!.data, ref.get('logits')!.data);
        expect(relativeError(got, f32)).toBeGreaterThan(1e-3);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('perplexity', () => {
  it('with stride < window scores every token after the first exactly once, each with the context its window gives', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
    try {
      const ids = Array.from({ length: 23 }, (_, i) => (i * 37 + 5) % model.config.vocabSize);
      const [window, stride] = [8, 3];
      const result = await perplexity(model, ids, { window, stride, batch: 2 });
      // By hand: each window's logits from its own forward, cross-entropy on the CPU in float64.
      let expected = 0;
      let tokens = 0;
      let prevEnd = 0;
      for (let start = 0; start + 1 < ids.length; start += stride) {
        const end = Math.min(start + window, ids.length);
        const cache = model.createCache(1, end - start);
        const logitsT = await model.forward({ ids: ids.slice(start, end), batch: 1 }, cache, { logits: 'all' });
        const logits = (await rt.read(logitsT)) as Float32Array;
        rt.free(logitsT);
        model.freeCache(cache);
        const V = model.config.vocabSize;
        for (let t = Math.max(start + 1, prevEnd); t < end; t++) {
          const row = logits.subarray((t - 1 - start) * V, (t - start) * V);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
          expected += lse - row[ids[t]];
          tokens++;
        }
        prevEnd = end;
        if (end === ids.length) break;
      }
      expect(tokens).toBe(ids.length - 1);
      expect(result.tokens).toBe(tokens);
      expect(Math.abs(result.meanLoss - expected / tokens)).toBeLessThan(1e-5);
    } finally {
      model.dispose();
    }
  });
});

describe('generation', () => {
  it('greedy stops at a stop token (included) and when onToken returns false; sampling is reproducible per seed', async () => {
    const rt = await testRuntime();
    const source = await fixtureSource('gqa');
    const ref = await reference(source, 'reference.safetensors');
    const model = await LlamaModel.load(rt, source);
    try {
      const prompt = Array.from(ref.get('greedy_prompt')!.data);
      const full = Array.from(ref.get('greedy_ids')!.data);
      const stopAt = full.indexOf(full[5]);
      expect(await generateTokens(model, prompt, { maxNewTokens: 32, stopTokenIds: [full[5]] })).toEqual(full.slice(0, stopAt + 1));
      const seen: number[] = [];
      const ids = await generateTokens(model, prompt, { maxNewTokens: 32, stopTokenIds: [], onToken: (id, i) => (seen.push(id), i < 3) });
      expect(ids).toEqual(full.slice(0, 4));
      expect(seen).toEqual(ids);
      // Every token reaches onToken, the last one too, greedy or sampled, for 1 token as for several.
      for (const [n, temperature] of [[1, 0], [2, 0], [8, 0], [1, 1], [3, 1]]) {
        const got: number[] = [];
        const out = await generateTokens(model, prompt, { maxNewTokens: n, temperature, stopTokenIds: [], onToken: (id) => void got.push(id) });
        expect(out, `${n} tokens at temperature ${temperature}`).toHaveLength(n);
        expect(got).toEqual(out);
        if (temperature === 0) expect(out).toEqual(full.slice(0, n));
      }
      await expect(generateTokens(model, prompt, { maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens must be an integer ≥ 1, got 0/);
      const draw = (seed: number) => generateTokens(model, prompt, { maxNewTokens: 12, temperature: 1, topK: 20, seed, stopTokenIds: [] });
      const a = await draw(3);
      expect(a).toHaveLength(12);
      expect(await draw(3)).toEqual(a);
      expect(await draw(4)).not.toEqual(a);
    } finally {
      model.dispose();
    }
  });
});
