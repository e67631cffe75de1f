// Loading: safetensors dtypes, config variants, and bad input — each a typed error naming the file and the
// tensor or field, with nothing left allocated on the GPU.
import { describe, expect, it } from 'vitest';
import {
  blobSource, expectedTensors, LlamaModel, loadTokenizer, ModelFormatError, parseLlamaConfig, parseSafetensorsHeader, readSafetensors,
  ropeInvFreq, UnsupportedModelError, type LlamaConfig, type LoadProgress,
} from '../../src/model';
import { relativeError, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { writeSafetensors, type NamedTensor } from '../helpers/safetensors-write';

const CONFIG = {
  model_type: 'llama', vocab_size: 40, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 64,
  rope_parameters: { rope_type: 'default', rope_theta: 10000 }, tie_word_embeddings: false,
};

function tensorsFor(config: LlamaConfig, seed = 1): NamedTensor[] {
  const rng = new Rng(seed);
  return [...expectedTensors(config)].map(([name, shape]) => ({ name, shape, data: rng.normals(shape.reduce((a, b) => a * b, 1), 0.1) }));
}

function files(raw: object, tensors: NamedTensor[], mutate: (bytes: Uint8Array) => Uint8Array = (b) => b): Record<string, Blob> {
  return {
    'config.json': new Blob([JSON.stringify(raw)]),
    'model.safetensors': new Blob([mutate(writeSafetensors(tensors)) as Uint8Array<ArrayBuffer>]),
  };
}

async function loadError(raw: object, tensors: NamedTensor[], mutate?: (b: Uint8Array) => Uint8Array): Promise<Error> {
  const rt = await testRuntime();
  await rt.sync();
  const before = rt.pool.stats.bytesInUse;
  const error = await LlamaModel.load(rt, blobSource('bad-model', files(raw, tensors, mutate)), {
    quant: { codebook: 'nf', bits: 4, groupSize: 32 },
  }).then(() => null, (e: Error) => e);
  expect(error).not.toBeNull();
  expect(rt.pool.stats.bytesInUse, 'GPU bytes still in use after the failed load').toBe(before);
  return error!;
}

describe('safetensors reader', () => {
  it('decodes F32, F16 and BF16 tensors as they stream in', async () => {
    const values = [1, -2.5, 0.333251953125, 65504, -0, 2 ** -24];
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x3555, 0x7bff, 0x8000, 0x0001]);
    const bf16 = new Uint16Array(new Float32Array(values).buffer.slice(0)).filter((_, i) => i % 2 === 1);
    const header = JSON.stringify({
      a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] },
      b: { dtype: 'BF16', shape: [6], data_offsets: [12, 24] },
      __metadata__: { format: 'pt' },
    });
    const bytes = new Uint8Array(8 + header.length + 24);
    new DataView(bytes.buffer).setUint32(0, header.length, true);
    bytes.set(new TextEncoder().encode(header), 8);
    bytes.set(new Uint8Array(f16.buffer), 8 + header.length);
    bytes.set(new Uint8Array(bf16.buffer), 8 + header.length + 12);
    // One byte per chunk: every boundary inside the header and the tensors.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const byte of bytes) c.enqueue(new Uint8Array([byte]));
        c.close();
      },
    });
    const got = [];
    for await (const t of readSafetensors(stream, 'x.safetensors', bytes.length)) got.push(t);
    expect(got.map((t) => t.name)).toEqual(['a', 'b']);
    expect(got[0].shape).toEqual([2, 3]);
    expect(Array.from(got[0].data)).toEqual(values);
    expect(Array.from(got[1].data)).toEqual(Array.from(new Float32Array(values)).map((v) => new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([v]).buffer)[0] & 0xffff0000]).buffer)[0]));
  });
});

describe('LLaMA config', () => {
  it('reads RoPE settings at the top level (transformers 4) and under rope_parameters (5) alike', () => {
    const scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
    const v5 = parseLlamaConfig({ ...CONFIG, rope_parameters: { ...scaling, rope_theta: 500000 } });
    const { rope_parameters: _, ...rest } = CONFIG;
    const v4 = parseLlamaConfig({ ...rest, rope_theta: 500000, rope_scaling: scaling });
    expect(v4.rope).toEqual(v5.rope);
    expect(ropeInvFreq(v4)).toEqual(ropeInvFreq(v5));
    expect(v5.headDim).toBe(8);
    expect(v5.kvHeads).toBe(2);
  });

  it('rejects an unknown model_type, biases and unsupported rope types by name', () => {
    expect(() => parseLlamaConfig({ ...CONFIG, model_type: 'gpt2' })).toThrow(/model_type.*gpt2/);
    expect(() => parseLlamaConfig({ ...CONFIG, model_type: 'qwen2', attention_bias: true })).toThrow(UnsupportedModelError);
    expect(() => parseLlamaConfig({ ...CONFIG, attention_bias: true })).toThrow(/attention_bias/);
    expect(() => parseLlamaConfig({ ...CONFIG, rope_parameters: { rope_type: 'yarn', rope_theta: 1 } })).toThrow(/yarn/);
    expect(() => parseLlamaConfig({ ...CONFIG, hidden_size: 'big' })).toThrow(/hidden_size/);
  });
});

describe('loading rejects bad input and frees what it allocated', () => {
  const config = parseLlamaConfig(CONFIG);

  it('loads a well-formed checkpoint (the baseline of the cases below)', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, blobSource('ok', files(CONFIG, tensorsFor(config))), { quant: { codebook: 'nf', bits: 4, groupSize: 32 } });
    expect(model.weights.layers[1].down.kind).toBe('quantized');
    expect(model.weights.lmHead.kind).toBe('dense');
    model.dispose();
  });

  it('stacks q/k/v and gate/up by default: the same logits as separate weights, prefill and decode, and frees all', async () => {
    const raw = { ...CONFIG, hidden_size: 64, intermediate_size: 128, num_key_value_heads: 4 };
    const tensors = tensorsFor(parseLlamaConfig(raw), 11);
    const rt = await testRuntime();
    const run = async (stack: boolean) => {
      const model = await LlamaModel.load(rt, blobSource('stack', files(raw, tensors)), { quant: { codebook: 'int', bits: 3, groupSize: 32 }, stack });
      expect(model.weights.layers.every((l) => !!l.qkv && !!l.gateUp)).toBe(stack);
      const cache = model.createCache(1, 13);
      const prefill = await model.forward({ ids: Array.from({ length: 12 }, (_, i) => (i * 7) % 40), batch: 1 }, cache, { logits: 'all' });
      const decode = await model.forward({ ids: [3], batch: 1 }, cache, { logits: 'all' });
      const out = [(await rt.read(prefill)) as Float32Array, (await rt.read(decode)) as Float32Array];
      rt.free(prefill, decode);
      model.freeCache(cache);
      model.dispose();
      return out;
    };
    const separate = await run(false); // also creates the runtime's constants (level tables)
    await rt.sync();
    const before = rt.pool.stats.bytesInUse;
    const stacked = await run(true);
    expect(stacked[0]).toEqual(separate[0]); // 12 rows: a GEMM per part
    expect(stacked[1]).toEqual(separate[1]); // 1 row: one GEMV launch per stack
    await rt.sync();
    expect(rt.pool.stats.bytesInUse, 'GPU bytes still in use after dispose').toBe(before);
  });

  it('loads with double-quantized statistics; logits stay close to the single-quantized model', async () => {
    const rt = await testRuntime();
    const tensors = tensorsFor(config, 9);
    const logitsOf = async (doubleQuant: boolean) => {
      const model = await LlamaModel.load(rt, blobSource('dq', files(CONFIG, tensors)), { quant: { codebook: 'nf', bits: 4, groupSize: 32, doubleQuant } });
      expect(model.weights.layers[0].q.kind === 'quantized' && !!model.weights.layers[0].q.weight.statBlocks).toBe(doubleQuant);
      const cache = model.createCache(1, 3);
      const l = await model.forward({ ids: [4, 2, 7], batch: 1 }, cache, { logits: 'all' });
      const out = (await rt.read(l)) as Float32Array;
      rt.free(l);
      model.freeCache(cache);
      model.dispose();
      return out;
    };
    const [plain, dq] = [await logitsOf(false), await logitsOf(true)];
    const err = relativeError(dq, plain);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(0.05);
  });

  it('loads a sharded checkpoint through model.safetensors.index.json, equal to the single file', async () => {
    const rt = await testRuntime();
    const tensors = tensorsFor(config, 5);
    const half = Math.floor(tensors.length / 2);
    const shards = { 'model-00001-of-00002.safetensors': tensors.slice(0, half), 'model-00002-of-00002.safetensors': tensors.slice(half) };
    const weightMap = Object.fromEntries(Object.entries(shards).flatMap(([file, ts]) => ts.map((t) => [t.name, file])));
    const sharded = blobSource('sharded', {
      'config.json': new Blob([JSON.stringify(CONFIG)]),
      'model.safetensors.index.json': new Blob([JSON.stringify({ metadata: { total_size: 4 * tensors.reduce((a, t) => a + t.data.length, 0) }, weight_map: weightMap })]),
      ...Object.fromEntries(Object.entries(shards).map(([file, ts]) => [file, new Blob([writeSafetensors(ts) as Uint8Array<ArrayBuffer>])])),
    });
    const logitsOf = async (model: LlamaModel) => {
      const cache = model.createCache(1, 4);
      const l = await model.forward({ ids: [1, 5, 9, 3], batch: 1 }, cache, { logits: 'all' });
      const out = await rt.read(l);
      rt.free(l);
      model.freeCache(cache);
      model.dispose();
      return out;
    };
    const progress: LoadProgress[] = [];
    const a = await logitsOf(await LlamaModel.load(rt, sharded, { onProgress: (p) => progress.push(p) }));
    const b = await logitsOf(await LlamaModel.load(rt, blobSource('single', files(CONFIG, tensors))));
    expect(a).toEqual(b);
    // One count across both shards, against the index's total_size (the tensors' bytes; the headers add a little).
    const downloads = progress.filter((p) => p.phase === 'download');
    const last = downloads[downloads.length - 1].overall!;
    expect(new Set(downloads.map((p) => p.file)).size).toBe(2);
    expect(downloads.every((p, i) => i === 0 || p.overall!.loaded > downloads[i - 1].overall!.loaded)).toBe(true);
    expect(last.total).toBe(4 * tensors.reduce((n, t) => n + t.data.length, 0));
    expect(last.loaded).toBe(Object.values(shards).reduce((n, ts) => n + writeSafetensors(ts).length, 0));
  });

  it('a malformed header length', async () => {
    const e = await loadError(CONFIG, tensorsFor(config), (b) => (new DataView(b.buffer).setUint32(0, 0x7fffffff, true), b));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(/model\.safetensors.*header length/);
  });

  it('a header that is not JSON', async () => {
    const e = await loadError(CONFIG, tensorsFor(config), (b) => (b[9] = 0x7b, b[10] = 0x7b, b));
    expect(e.message).toMatch(/model\.safetensors.*not valid JSON/);
  });

  it('a truncated file (size known) fails at the header, naming the tensor that lies past the end', async () => {
    const e = await loadError(CONFIG, tensorsFor(config), (b) => b.subarray(0, b.length - 100));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(/truncated/);
    expect((e as ModelFormatError).tensor).toBe('lm_head.weight');
  });

  it('a truncated stream (size unknown) fails on the tensor it cuts', async () => {
    const rt = await testRuntime();
    const bytes = writeSafetensors(tensorsFor(config)).subarray(0, 5000);
    const source = { name: 'stream', file: async (p: string) => p === 'config.json'
      ? { size: null, stream: () => new Blob([JSON.stringify(CONFIG)]).stream(), text: async () => JSON.stringify(CONFIG) }
      : p === 'model.safetensors' ? { size: null, stream: () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), text: async () => '' } : null };
    const e = await LlamaModel.load(rt, source).then(() => null, (err: Error) => err);
    expect(e?.message).toMatch(/truncated/);
  });

  it('a tensor whose shape disagrees with config.json', async () => {
    const tensors = tensorsFor(config);
    const i = tensors.findIndex((t) => t.name === 'model.layers.1.mlp.up_proj.weight');
    tensors[i] = { ...tensors[i], shape: [32, 64], data: tensors[i].data };
    const e = await loadError(CONFIG, tensors);
    expect((e as ModelFormatError).tensor).toBe('model.layers.1.mlp.up_proj.weight');
    expect(e.message).toMatch(/\[32,64\].*\[64,32\]/);
  });

  it('a missing tensor', async () => {
    const e = await loadError(CONFIG, tensorsFor(config).filter((t) => t.name !== 'model.layers.0.self_attn.v_proj.weight'));
    expect((e as ModelFormatError).tensor).toBe('model.layers.0.self_attn.v_proj.weight');
  });

  it('an unknown model_type, before anything is read', async () => {
    const e = await loadError({ ...CONFIG, model_type: 'falcon' }, tensorsFor(config));
    expect(e).toBeInstanceOf(UnsupportedModelError);
  });

  it('a header length a few bytes short (the space-padded JSON still parses) is refused, not read shifted', async () => {
    // The writer's header padded with 16 more spaces, then the length field cut by 4: the JSON parses, the data moves.
    const bytes = writeSafetensors(tensorsFor(config));
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const length = view.getUint32(0, true);
    const padded = new Uint8Array(bytes.length + 16);
    padded.set(bytes.subarray(0, 8 + length));
    padded.fill(0x20, 8 + length, 8 + length + 16);
    padded.set(bytes.subarray(8 + length), 8 + length + 16);
    new DataView(padded.buffer).setUint32(0, length + 16 - 4, true);
    const e = await loadError(CONFIG, tensorsFor(config), () => padded);
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(/tensors cover \d+ bytes, the data section holds \d+/);
    // The same bytes as a stream of unknown length: caught when bytes follow the last tensor.
    const rt = await testRuntime();
    const source = { name: 'stream', file: async (p: string) => p === 'config.json'
      ? { size: null, stream: () => new Blob([JSON.stringify(CONFIG)]).stream(), text: async () => JSON.stringify(CONFIG) }
      : p === 'model.safetensors' ? { size: null, stream: () => new Blob([padded as Uint8Array<ArrayBuffer>]).stream(), text: async () => '' } : null };
    const before = rt.pool.stats.bytesInUse;
    const streamed = await LlamaModel.load(rt, source).then(() => null, (err: Error) => err);
    expect(streamed?.message).toMatch(/bytes follow the last tensor/);
    expect(rt.pool.stats.bytesInUse).toBe(before);
  });

  it('data_offsets with a hole between tensors, or overlapping ones', () => {
    const entry = (begin: number, end: number) => ({ dtype: 'F32', shape: [(end - begin) / 4], data_offsets: [begin, end] });
    expect(() => parseSafetensorsHeader({ a: entry(0, 8), b: entry(12, 20) }, 'f', 20)).toThrow(/leave bytes 8…12/);
    expect(() => parseSafetensorsHeader({ a: entry(0, 8), b: entry(4, 12) }, 'f', 12)).toThrow(/overlap/);
    expect(() => parseSafetensorsHeader({ a: entry(4, 12) }, 'f', 12)).toThrow(/leave bytes 0…4/);
  });

  it('a NaN or Inf in a weight kept in f32 names the tensor and its row', async () => {
    const tensors = tensorsFor(config);
    const norm = tensors.find((t) => t.name === 'model.layers.1.post_attention_layernorm.weight')!;
    norm.data[7] = Number.NaN;
    const e = await loadError(CONFIG, tensors);
    expect(e).toBeInstanceOf(ModelFormatError);
    expect((e as ModelFormatError).tensor).toBe('model.layers.1.post_attention_layernorm.weight');
    expect(e.message).toMatch(/non-finite value \(NaN\) at index 7/);
    const head = tensorsFor(config);
    head.find((t) => t.name === 'lm_head.weight')!.data[3 * 32 + 5] = Infinity;
    expect((await loadError(CONFIG, head)).message).toMatch(/lm_head\.weight.*\(Infinity\) at row 3, column 5/);
  });

  it('config values that cannot be right, before anything is allocated', async () => {
    const cases: [object, RegExp][] = [
      [{ ...CONFIG, rms_norm_eps: -1e-5 }, /'rms_norm_eps' must be positive/],
      [{ ...CONFIG, rope_parameters: 'fast' }, /'rope_parameters' must be an object/],
      [{ ...CONFIG, rope_parameters: { rope_type: 'llama3', rope_theta: 500000 } }, /rope type 'llama3' needs the field 'factor'/],
      [{ ...CONFIG, rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }, /needs the field 'original_max_position_embeddings'/],
      [{ ...CONFIG, rope_parameters: { rope_type: 'linear', rope_theta: 10000 } }, /rope type 'linear' needs the field 'factor'/],
      [{ ...CONFIG, rope_parameters: { rope_type: 'default', rope_theta: -1 } }, /'rope_theta' must be positive/],
      [{ ...CONFIG, num_hidden_layers: 1e9 }, /'num_hidden_layers' is 1000000000, past any real model's/],
    ];
    for (const [raw, message] of cases) {
      const e = await loadError(raw, tensorsFor(config));
      expect(e, String(message)).toBeInstanceOf(ModelFormatError);
      expect(e.message).toMatch(message);
    }
  });

  it('a malformed tokenizer.json, tokenizer_config.json or chat template is a ModelFormatError naming the file', async () => {
    const tokenizerJson = {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' },
      post_processor: null, decoder: null, model: { type: 'WordLevel', vocab: { a: 0, b: 1, '[UNK]': 2 }, unk_token: '[UNK]' },
    };
    const source = (fs: Record<string, unknown>) =>
      blobSource('tok', Object.fromEntries(Object.entries(fs).map(([k, v]) => [k, new Blob([typeof v === 'string' ? v : JSON.stringify(v)])])));
    expect((await loadTokenizer(source({ 'tokenizer.json': tokenizerJson }))).encode('a b')).toEqual([0, 1]);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ 'tokenizer.json': { ...tokenizerJson, model: { type: 'NoSuchModel' } } }, /tokenizer\.json: the tokenizer library refused it/],
      [{ 'tokenizer.json': { model: tokenizerJson.model } }, /tokenizer\.json: the tokenizer library refused it/],
      [{ 'tokenizer.json': [1, 2] }, /tokenizer\.json: must hold a JSON object/],
      [{ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': { bos_token: 5 } }, /tokenizer_config\.json: field 'bos_token' must be a string/],
      [{ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': { chat_template: '{% for m in messages %}' } }, /tokenizer_config\.json: chat_template does not parse/],
      [{ 'tokenizer.json': tokenizerJson, 'chat_template.jinja': '{{ messages[0] ' }, /chat_template\.jinja: chat_template does not parse/],
    ];
    for (const [fs, message] of cases) {
      const e = await loadTokenizer(source(fs)).then(() => null, (err: Error) => err);
      expect(e, String(message)).toBeInstanceOf(ModelFormatError);
      expect(e!.message).toMatch(message);
    }
  });

  it('a missing tokenizer.json', async () => {
    await expect(loadTokenizer(blobSource('no-tokenizer', files(CONFIG, [])))).rejects.toThrow(/tokenizer\.json.*not found/);
  });
});
