// What a model takes, from config.json alone (src/model/size.ts), on the shapes people pick; loading refuses a model
// whose largest tensor cannot be one buffer before it downloads any weight.
import { describe, expect, it } from 'vitest';
import { estimateModelSize, LlamaModel, type ModelSource } from '../../src/runtime';
import { LimitError, type Runtime } from '../../src/gpu';
import { parseLlamaConfig } from '../../src/model/config';
import { testRuntime } from '../helpers/gpu';
import { fixtureSource } from '../helpers/model-files';

const llama = (o: Record<string, unknown>) => parseLlamaConfig({ model_type: 'llama', hidden_act: 'silu', rms_norm_eps: 1e-5, max_position_embeddings: 2048, ...o });
const SMOLLM2_135M = llama({ vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, tie_word_embeddings: true });
const LLAMA_32_1B = llama({ vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, tie_word_embeddings: true });
const LLAMA_31_8B = llama({ vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, tie_word_embeddings: false });
const NF4 = { codebook: 'nf', bits: 4, groupSize: 64 } as const; // 5 bits a weight with its f32 (s, o) per group

describe('model size from config.json', () => {
  it('Llama-3.2-1B, nf4 G64: 973 M linear weights at 5 bits, and the f32 embedding of 1.05 GB as its largest upload', () => {
    const linears = 16 * (2048 * 2048 * 2 + 512 * 2048 * 2 + 8192 * 2048 * 3);
    const f32Embed = estimateModelSize(LLAMA_32_1B, { quant: NF4 });
    expect(f32Embed.largestTensor).toEqual({ name: 'model.embed_tokens.weight', bytes: 4 * 128256 * 2048 });
    expect(f32Embed.weightBytes).toBeCloseTo((linears * 5) / 8 + 4 * 128256 * 2048 + 4 * 2048 * 33, -3);
    // The embedding in nf4 too (the tied head reads it): 0.77 GB in all.
    const quantized = estimateModelSize(LLAMA_32_1B, { quant: NF4, embedding: 'quantized' });
    expect(quantized.weightBytes).toBeCloseTo(((linears + 128256 * 2048) * 5) / 8 + 4 * 2048 * 33, -3);
    expect(quantized.weightBytes / 1e9).toBeLessThan(0.8);
  });

  it('SmolLM2-135M: 113 MB of its ~180 MB are the f32 table; Llama-3.1-8B untied: both tables, the head f32 unless quantized', () => {
    const smol = estimateModelSize(SMOLLM2_135M, { quant: NF4 });
    expect(smol.largestTensor.bytes).toBe(4 * 49152 * 576);
    expect(smol.weightBytes / 1e6).toBeGreaterThan(160);
    expect(estimateModelSize(SMOLLM2_135M, { quant: NF4, embedding: 'quantized' }).weightBytes / 1e6).toBeLessThan(90);
    const big = estimateModelSize(LLAMA_31_8B, { quant: NF4 });
    const head = estimateModelSize(LLAMA_31_8B, { quant: NF4, quantizeLmHead: true });
    expect(big.weightBytes - head.weightBytes).toBeCloseTo(128256 * 4096 * (4 - 5 / 8), -3);
    // Stored quantized, the linears arrive as codes: the largest upload is the f32 embedding still.
    expect(estimateModelSize(LLAMA_31_8B, { quant: NF4, stored: true }).largestTensor.name).toBe('model.embed_tokens.weight');
  });

  it('loading a model not even one row of whose weights fits one buffer fails before any weight is requested', async () => {
    const rt = await testRuntime();
    const fixture = await fixtureSource('gqa');
    const requests: string[] = [];
    const counted: ModelSource = { name: 'gqa counted', file: (path) => (requests.push(path), fixture.file(path)) };
    // The same runtime held to 512 bytes per binding: less than one row of the widest weight (192 f32 values).
    // Larger weights than a buffer holds are split into row blocks instead (row-blocks.node.test.ts).
    const small = Object.create(rt, { bufferLimits: { value: { maxStorageBufferBindingSize: 512, maxBufferSize: 1 << 30 } } }) as Runtime;
    const err = await LlamaModel.load(small, counted, { quant: NF4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitError);
    expect(String(err)).toMatch(/loading a model with rows of 192 values \(its weights ~\d+ bytes\): one row block of 1 row: needs maxStorageBufferBindingSize >= 768, but the adapter allows 512/);
    expect(requests.filter((p) => p.endsWith('.safetensors'))).toEqual([]);
  });
});
