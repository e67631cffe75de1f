// A fuzz corpus of malformed inputs, generated here from a seed (nothing committed): damaged safetensors files
// (truncations, header-length and header-JSON mutations, dtype/shape/offset mutations, missing and duplicated
// tensors), damaged config.json, tokenizer files and chat templates, damaged sharded indexes, datasets and PEFT
// adapters. Every case must end in a load that works or a typed error that names the file (and the field or tensor
// where there is one), within a time limit, with the GPU pool back at its baseline. The tally is printed by family.
import { describe, expect, it } from 'vitest';
import {
  AdapterConfigError, DatasetError, LimitError, ModelFormatError, QuantFormatError, ShapeError, TrainingError, UnsupportedModelError, alpacaDataset,
  chatDataset, textDataset, tokenizedDataset,
} from '../../src';
import { AdapterSet, LlamaModel, blobSource, exportPeft, importPeft, loadTokenizer, type TextTokenizer } from '../../src/runtime';
import { expectedTensors, parseLlamaConfig } from '../../src/model';
import { testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { writeSafetensors, type NamedTensor } from '../helpers/safetensors-write';

const TYPED = [ModelFormatError, UnsupportedModelError, DatasetError, AdapterConfigError, LimitError, QuantFormatError, ShapeError, TrainingError];
const CASE_LIMIT_MS = 20_000;

const CONFIG = {
  model_type: 'llama', vocab_size: 40, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 64, rope_parameters: { rope_type: 'default', rope_theta: 10000 },
  tie_word_embeddings: false,
};
const TOKENIZER = {
  version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' },
  post_processor: null, decoder: null, model: { type: 'WordLevel', vocab: Object.fromEntries(['<eos>', ...'abcdefghij'].map((w, i) => [w, i])), unk_token: '<eos>' },
};
const TEMPLATE = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}";

interface Case {
  family: string;
  /** The file (or source) the error must name. */
  file: string;
  run: () => Promise<unknown>;
}

const enc = (v: unknown) => new Blob([typeof v === 'string' ? v : v instanceof Uint8Array ? (v as Uint8Array<ArrayBuffer>) : JSON.stringify(v)]);

function modelBytes(): { tensors: NamedTensor[]; bytes: Uint8Array; headerLength: number } {
  const rng = new Rng(2026);
  const tensors = [...expectedTensors(parseLlamaConfig(CONFIG))].map(([name, shape]) => ({ name, shape, data: rng.normals(shape.reduce((a, b) => a * b, 1), 0.1) }));
  const bytes = writeSafetensors(tensors);
  return { tensors, bytes, headerLength: new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) };
}

/** A safetensors file with `header` (any JSON text) over the given data bytes. */
function withHeader(header: string, data: Uint8Array, lengthDelta = 0): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length + lengthDelta, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function streamOf(bytes: Uint8Array) {
  return { size: null, stream: () => enc(bytes).stream() as ReadableStream<Uint8Array>, text: async () => new TextDecoder().decode(bytes) };
}

describe('malformed inputs', () => {
  it('every case of the corpus ends in a load that works or a typed error naming the file, without hangs or leaks', async () => {
    const rt = await testRuntime();
    const rng = new Rng(22);
    const { tensors, bytes, headerLength } = modelBytes();
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const data = bytes.subarray(8 + headerLength);
    const cases: Case[] = [];
    const load = (files: Record<string, Blob>) => async () => (await LlamaModel.load(rt, blobSource('fuzz', files))).dispose();
    const loadModelFile = (family: string, file: Uint8Array, config: unknown = CONFIG) =>
      cases.push({ family, file: 'model.safetensors', run: load({ 'config.json': enc(config), 'model.safetensors': enc(file) }) });

    // Truncations at every region: the length field, the header, each tensor's start, middle and end; size known and not.
    const cuts = [0, 1, 4, 7, 8, 9, 8 + headerLength / 2, 8 + headerLength - 1];
    for (const e of Object.values(header) as { data_offsets: number[] }[]) {
      const [b, en] = e.data_offsets.map((o) => 8 + headerLength + o);
      cuts.push(b + 1, Math.floor((b + en) / 2), en - 1);
    }
    for (const cut of cuts) loadModelFile('truncation', bytes.subarray(0, Math.floor(cut)));
    for (const cut of cuts.filter((_, i) => i % 3 === 0)) {
      cases.push({ family: 'truncation', file: 'model.safetensors', run: async () => (await LlamaModel.load(rt, {
        name: 'stream', file: async (p) => (p === 'config.json' ? streamOf(new TextEncoder().encode(JSON.stringify(CONFIG))) : p === 'model.safetensors' ? streamOf(bytes.subarray(0, Math.floor(cut))) : null),
      })).dispose() });
    }
    // Header length off by a little or a lot.
    for (const delta of [-64, -17, -8, -5, -4, -3, -2, -1, 1, 2, 3, 4, 8, 9, 64, 1 << 20]) {
      const b = bytes.slice();
      new DataView(b.buffer).setUint32(0, headerLength + delta, true);
      loadModelFile('header length', b);
    }
    for (const [lo, hi] of [[0, 0], [0xffffffff, 0], [0, 1], [5, 0xffff]]) {
      const b = bytes.slice();
      new DataView(b.buffer).setUint32(0, lo, true);
      new DataView(b.buffer).setUint32(4, hi, true);
      loadModelFile('header length', b);
    }
    // Header JSON damaged: bytes replaced, or not an object.
    for (let i = 0; i < 16; i++) {
      const b = bytes.slice();
      b[8 + 1 + rng.int(0, headerLength - 3)] = [0x7b, 0x22, 0x5d, 0xff][i % 4];
      loadModelFile('header JSON', b);
    }
    for (const h of ['[]', 'null', '42', '"text"', '{"a":', '']) loadModelFile('header JSON', withHeader(h, data));
    // A tensor's dtype, shape or offsets mutated, the header re-encoded over the same data.
    const names = Object.keys(header).filter((n) => n !== '__metadata__');
    const mutations: ((e: { dtype: string; shape: number[]; data_offsets: number[] }) => void)[] = [
      (e) => (e.dtype = 'I8'), (e) => (e.dtype = 'F64'), (e) => (e.dtype = 'BOOL'), (e) => (e.shape = []),
      (e) => (e.shape = [...e.shape, 1]), (e) => (e.shape = e.shape.map((d) => -d)), (e) => (e.shape = e.shape.map((d) => d + 0.5)),
      (e) => (e.shape = [...e.shape].reverse()), (e) => (e.data_offsets = [e.data_offsets[1], e.data_offsets[0]]),
      (e) => (e.data_offsets = e.data_offsets.map((o) => o + 4)), (e) => (e.data_offsets = [-4, e.data_offsets[1]]),
      (e) => (e.data_offsets = [e.data_offsets[0], e.data_offsets[1] + 1e9]), (e) => (e.data_offsets = [e.data_offsets[0]]),
    ];
    for (const [i, mutate] of mutations.entries()) {
      for (const name of [names[(i * 7) % names.length], names[(i * 7 + 3) % names.length], 'model.embed_tokens.weight']) {
        const h = structuredClone(header);
        mutate(h[name]);
        loadModelFile('dtype/shape/offsets', withHeader(JSON.stringify(h), data));
      }
    }
    // Missing, duplicated and extra tensors.
    for (const name of names.filter((_, i) => i % 2 === 0)) loadModelFile('missing/duplicate', writeSafetensors(tensors.filter((t) => t.name !== name)));
    for (const [i, name] of names.slice(0, 4).entries()) {
      const text = JSON.stringify(header).replace(/}$/, `,${JSON.stringify(names[i + 5])}:${JSON.stringify(header[name])}}`);
      loadModelFile('missing/duplicate', withHeader(text, data));
    }
    loadModelFile('missing/duplicate', writeSafetensors([...tensors, { name: 'model.extra.weight', shape: [2], data: new Float32Array([1, 2]) }]));
    loadModelFile('missing/duplicate', writeSafetensors([...tensors, { ...tensors[3], name: tensors[3].name.replace('layers.0', 'layers.7') }]));
    // config.json: each field deleted, wrong types and values.
    const fields = Object.keys(CONFIG) as (keyof typeof CONFIG)[];
    for (const f of fields) {
      const c: Record<string, unknown> = { ...CONFIG };
      delete c[f];
      cases.push({ family: 'config', file: 'config.json', run: load({ 'config.json': enc(c), 'model.safetensors': enc(bytes) }) });
    }
    for (const f of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'max_position_embeddings', 'rms_norm_eps']) {
      for (const v of ['abc', -1, 0, 1.5, null, [], {}, 1e12]) {
        cases.push({ family: 'config', file: 'config.json', run: load({ 'config.json': enc({ ...CONFIG, [f]: v }), 'model.safetensors': enc(bytes) }) });
      }
    }
    for (const rope of ['x', 3, [], { rope_type: 'llama3' }, { rope_type: 'yarn', factor: 2 }, { rope_type: 'linear' }, { rope_theta: -5 }, { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 32 }]) {
      cases.push({ family: 'config', file: 'config.json', run: load({ 'config.json': enc({ ...CONFIG, rope_parameters: rope }), 'model.safetensors': enc(bytes) }) });
    }
    for (const raw of ['{', '[]', 'null', '"llama"']) cases.push({ family: 'config', file: 'config.json', run: load({ 'config.json': enc(raw), 'model.safetensors': enc(bytes) }) });
    // Tokenizer files and chat templates.
    const tok = (files: Record<string, unknown>) => async () => (await loadTokenizer(blobSource('fuzz', Object.fromEntries(Object.entries(files).map(([k, v]) => [k, enc(v)]))))).encode('a b c');
    for (const t of ['{', '[]', 'null', { ...TOKENIZER, model: { type: 'Unknown' } }, { ...TOKENIZER, model: null }, { model: TOKENIZER.model }, { ...TOKENIZER, pre_tokenizer: { type: 'Nope' } }, { ...TOKENIZER, normalizer: { type: 'Nope' } }, { ...TOKENIZER, decoder: { type: 'Nope' } }, { ...TOKENIZER, added_tokens: 5 }]) {
      cases.push({ family: 'tokenizer', file: 'tokenizer.json', run: tok({ 'tokenizer.json': t }) });
    }
    for (const c of ['{', '[1]', { bos_token: 3 }, { eos_token: [] }, { chat_template: 7 }, { chat_template: '{% for %}' }, { chat_template: '{{ x ' }, { chat_template: '{% if x %}' }]) {
      cases.push({ family: 'tokenizer', file: 'tokenizer_config.json', run: tok({ 'tokenizer.json': TOKENIZER, 'tokenizer_config.json': c }) });
    }
    for (const t of ['{% endfor %}', '{{ }}', '{% for m in %}{% endfor %}']) {
      cases.push({ family: 'tokenizer', file: 'chat_template.jinja', run: tok({ 'tokenizer.json': TOKENIZER, 'chat_template.jinja': t }) });
    }
    // Sharded checkpoints: the index damaged, a shard missing or cut.
    const half = Math.floor(tensors.length / 2);
    const shards: Record<string, NamedTensor[]> = { 'model-1.safetensors': tensors.slice(0, half), 'model-2.safetensors': tensors.slice(half) };
    const weightMap = Object.fromEntries(Object.entries(shards).flatMap(([f, ts]) => ts.map((t) => [t.name, f])));
    const shardFiles = Object.fromEntries(Object.entries(shards).map(([f, ts]) => [f, enc(writeSafetensors(ts))]));
    const sharded = (index: unknown, files = shardFiles) => load({ 'config.json': enc(CONFIG), 'model.safetensors.index.json': enc(index), ...files });
    for (const index of ['{', '[]', {}, { weight_map: 3 }, { weight_map: [] }, { weight_map: { a: 5 } }, { weight_map: { ...weightMap, [tensors[0].name]: 'model-3.safetensors' } }]) {
      cases.push({ family: 'sharded index', file: 'model.safetensors.index.json', run: sharded(index) });
    }
    cases.push({ family: 'sharded index', file: 'model-2.safetensors', run: sharded({ weight_map: weightMap }, { 'model-1.safetensors': shardFiles['model-1.safetensors'] }) });
    cases.push({ family: 'sharded index', file: 'model-2.safetensors', run: sharded({ weight_map: weightMap }, { ...shardFiles, 'model-2.safetensors': enc(writeSafetensors(shards['model-2.safetensors']).subarray(0, 300)) }) });
    cases.push({ family: 'sharded index', file: 'model-2.safetensors', run: sharded({ weight_map: weightMap }, { ...shardFiles, 'model-2.safetensors': shardFiles['model-1.safetensors'] }) });
    // Datasets.
    const tokenizer: TextTokenizer = await loadTokenizer(blobSource('t', { 'tokenizer.json': enc(TOKENIZER), 'tokenizer_config.json': enc({ eos_token: '<eos>' }), 'chat_template.jinja': enc(TEMPLATE) }));
    const dataset = (fn: () => unknown) => async () => fn();
    for (const line of ['{', '[1,2]', '"text"', '{"instruction": 5, "output": "a"}', '{"instruction": "a"}', '{"output": "b"}', '{"instruction": "a", "output": "b", "input": []}']) {
      cases.push({ family: 'datasets', file: 'd.jsonl', run: dataset(() => alpacaDataset(tokenizer, `{"instruction":"a","output":"b"}\n${line}`, { seqLen: 32, name: 'd.jsonl' })) });
    }
    for (const line of ['{"messages": []}', '{"messages": [{"role": "user"}]}', '{"messages": [{"role": "user", "content": "a"}]}', '{"messages": "a"}', '{}']) {
      cases.push({ family: 'datasets', file: 'd.jsonl', run: dataset(() => chatDataset(tokenizer, line, { seqLen: 32, name: 'd.jsonl' })) });
    }
    cases.push({ family: 'datasets', file: 'd.jsonl', run: dataset(() => alpacaDataset(tokenizer, '\n \n', { seqLen: 32, name: 'd.jsonl' })) });
    cases.push({ family: 'datasets', file: 'text', run: dataset(() => textDataset(tokenizer, '', { seqLen: 8 })) });
    for (const rows of [[{ input_ids: [1, 2], labels: [-100, -100] }], [{ input_ids: 'ab' }], [{ input_ids: [1, -2] }], [{ input_ids: [1, 2], labels: [1] }], [{ input_ids: [1, 2], attention_mask: [1] }], []]) {
      cases.push({ family: 'datasets', file: 'rows', run: dataset(() => tokenizedDataset(rows as never, { seqLen: 8, vocabSize: 40 })) });
    }
    // PEFT adapters.
    const model = await LlamaModel.load(rt, blobSource('m', { 'config.json': enc(CONFIG), 'model.safetensors': enc(bytes) }));
    const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, targets: ['q_proj', 'down_proj'] });
    const good = await exportPeft(adapters);
    adapters.dispose();
    const peft = (config: unknown, weights: Uint8Array | null, file: string) =>
      cases.push({ family: 'PEFT adapters', file, run: async () => (await importPeft(model, blobSource('p', { 'adapter_config.json': enc(config), ...(weights ? { 'adapter_model.safetensors': enc(weights) } : {}) }), { baseModel: 'fuzz' })).dispose() });
    for (const c of [{ ...good.config, r: 8 }, { ...good.config, r: -1 }, { ...good.config, peft_type: 'PREFIX_TUNING' }, { ...good.config, target_modules: ['q_proj', 'fc1'] },
      { ...good.config, target_modules: '.*proj' }, { ...good.config, base_model_name_or_path: 'other' }, { ...good.config, use_dora: true }, { ...good.config, lora_alpha: 'x' }, '{', []]) {
      // A config whose r disagrees with the tensors is found at the tensors: either file may be named.
      peft(c, good.weights, 'adapter_');
    }
    const t0 = [] as NamedTensor[];
    const { readSafetensors } = await import('../../src/model');
    for await (const t of readSafetensors(enc(good.weights).stream() as ReadableStream<Uint8Array>, 'a', good.weights.length)) t0.push({ name: t.name, shape: t.shape, data: t.data });
    peft(good.config, writeSafetensors(t0.slice(1)), 'adapter_model.safetensors');
    peft(good.config, writeSafetensors(t0.map((t, i) => (i === 2 ? { ...t, shape: [t.shape[1], t.shape[0]] } : t))), 'adapter_model.safetensors');
    peft(good.config, writeSafetensors(t0.map((t, i) => (i === 1 ? { ...t, data: t.data.map(() => Number.NaN) } : t))), 'adapter_model.safetensors');
    peft(good.config, good.weights.subarray(0, good.weights.length - 10), 'adapter_model.safetensors');
    peft(good.config, writeSafetensors([...t0, { name: 'base_model.model.lm_head.lora_A.weight', shape: [4, 32], data: new Float32Array(128) }]), 'adapter_model.safetensors');
    peft(good.config, null, 'adapter_model.safetensors');

    const tally = new Map<string, { cases: number; typed: number; accepted: number; untyped: number; hung: number }>();
    const baseline = rt.pool.stats.bytesInUse;
    const failures: string[] = [];
    for (const [i, c] of cases.entries()) {
      const t = tally.get(c.family) ?? { cases: 0, typed: 0, accepted: 0, untyped: 0, hung: 0 };
      tally.set(c.family, t);
      t.cases++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), CASE_LIMIT_MS)));
      const outcome = await Promise.race([c.run().then(() => 'accepted' as const, (e: unknown) => e), hang]);
      clearTimeout(timer);
      if (outcome === 'hang') {
        t.hung++;
        failures.push(`case ${i} (${c.family}): no answer in ${CASE_LIMIT_MS} ms`);
      } else if (outcome === 'accepted') {
        t.accepted++;
      } else if (TYPED.some((T) => outcome instanceof T) && String((outcome as Error).message).includes(c.file)) {
        t.typed++;
      } else {
        t.untyped++;
        failures.push(`case ${i} (${c.family}, ${c.file}): ${(outcome as Error)?.name}: ${(outcome as Error)?.message}`);
      }
      if (rt.pool.stats.bytesInUse !== baseline) failures.push(`case ${i} (${c.family}): ${rt.pool.stats.bytesInUse - baseline} GPU bytes left in use`);
    }
    console.log(['family | cases | typed | accepted | untyped | hung', ...[...tally].map(([f, t]) => `${f} | ${t.cases} | ${t.typed} | ${t.accepted} | ${t.untyped} | ${t.hung}`)].join('\n'));
    model.dispose();
    expect(failures).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });
});
