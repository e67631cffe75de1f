// A second corpus of malformed inputs, generated here (nothing committed), over what comes after loading: training
// and evaluation options, adapter options, PEFT configs, imported optimizer state, datasets of the wrong type, the
// model cache and its manifests, checkpoints' run.json, and merging. Each case says what it must end in: a typed error
// whose message names the option, field or record, or a success. A success must also be a true one: adapters that
// hold only finite values, a cache that never serves another entry's bytes. Every case must leave the GPU pool at its
// baseline. The tally is printed by family.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AdapterConfigError, DatasetError, LimitError, ModelFormatError, StorageError, TrainingError, alpacaDataset, chatDataset, textDataset, tokenizedDataset,
  type Dataset,
} from '../../src';
import {
  AdapterSet, LlamaModel, ModelCache, blobSource, evaluate, exportAdapter, exportPeft, importAdapter, importPeft, mergeAdapters, train,
  type TextTokenizer, type TrainOptions,
} from '../../src/runtime';
import { checkpointFiles, checkpointFromFiles } from '../../src/storage';
import { expectedTensors, parseLlamaConfig, readSafetensors } from '../../src/model';
import { testRuntime } from '../helpers/gpu';
import { ensureIndexedDb } from '../helpers/indexeddb';
import { Rng } from '../helpers/rng';
import { writeSafetensors, type NamedTensor } from '../helpers/safetensors-write';

beforeAll(ensureIndexedDb);

const TYPED = [TrainingError, AdapterConfigError, DatasetError, StorageError, LimitError, ModelFormatError].filter(Boolean);
const CASE_LIMIT_MS = 20_000;
const CONFIG = {
  model_type: 'llama', vocab_size: 40, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 64, rope_parameters: { rope_type: 'default', rope_theta: 10000 },
  tie_word_embeddings: false,
};

interface Case {
  family: string;
  /** What the outcome must be: a typed error whose message holds `names`, or 'accepted'. */
  expect: { names: string } | 'accepted';
  /** Runs the case; for an accepted one, returns what is wrong with its result (or null). */
  run: () => Promise<string | null | void>;
}

const enc = (v: unknown) => new Blob([typeof v === 'string' ? v : v instanceof Uint8Array ? (v as Uint8Array<ArrayBuffer>) : JSON.stringify(v)]);

describe('malformed training inputs', () => {
  it('every case ends as it must: a typed error naming the option or record, or a true success, without leaks', async () => {
    const rt = await testRuntime();
    const rng = new Rng(34);
    const config = parseLlamaConfig(CONFIG);
    const tensors = [...expectedTensors(config)].map(([name, shape]) => ({ name, shape, data: rng.normals(shape.reduce((a, b) => a * b, 1), 0.1) }));
    const modelFiles = { 'config.json': enc(CONFIG), 'model.safetensors': enc(writeSafetensors(tensors)) };
    const model = await LlamaModel.load(rt, blobSource('fuzz', modelFiles), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    const rows = Array.from({ length: 4 }, (_, r) => ({ input_ids: Array.from({ length: 6 + r }, (_, t) => 1 + ((r * 7 + t * 3) % 39)) }));
    const data = tokenizedDataset(rows, { seqLen: 16, vocabSize: 40 });
    const cases: Case[] = [];
    const typed = (family: string, names: string, run: () => Promise<unknown>) => cases.push({ family, expect: { names }, run: async () => void (await run()) });
    const accepted = (family: string, run: () => Promise<string | null>) => cases.push({ family, expect: 'accepted', run });
    const lora = (options = {}) => AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, ...options });
    /** Adapters after `run`, which must hold only finite values. */
    const finite = async (set: AdapterSet): Promise<string | null> => {
      const bad = ((await rt.read(set.store.buffers.params)) as Float32Array).findIndex((v) => !Number.isFinite(v));
      return bad >= 0 ? `${set.store.nameAt(bad)} is non-finite after a run reported as a success` : null;
    };
    const trained = (options: TrainOptions, set = () => lora(), ds: Dataset = data) => async () => {
      const a = set();
      try {
        await train(model, a, ds, options);
        return await finite(a);
      } finally {
        a.dispose();
        model.adapters = null; // train() leaves its set attached; a disposed one would refuse the next run
      }
    };
    const refuses = (names: string, options: TrainOptions, ds: Dataset = data) => typed('train options', names, trained(options, undefined, ds));

    // Training options: wrong types, out of range, finite in f64 but not in f32, absurd sizes.
    for (const v of [0, -1, Number.NaN, Infinity, 1e39, 3.5e38, '1e-3', [1e-3]]) refuses('lr', { steps: 1, lr: v as never });
    for (const v of [-1, 1e39, Number.NaN, 'x']) refuses('weightDecay', { steps: 1, weightDecay: v as never });
    refuses('weightDecay', { steps: 1, lr: 10, weightDecay: 1e38 });
    for (const v of [0, -1, 1e-46, Infinity, 'x']) refuses('eps', { steps: 1, eps: v as never });
    for (const v of [[1, 0.9], [0.9, 1 - 1e-12], [0.9], [0.9, 0.999, 0.5], 'x', [0.9, '0.999'], [-0.1, 0.9], { 0: 0.9, 1: 0.9 }]) refuses('betas', { steps: 1, betas: v as never });
    for (const v of [-1, Number.NaN, 1e39, 'x']) refuses('maxGradNorm', { steps: 1, maxGradNorm: v as never });
    for (const v of [0, -1, 1.5, 'x', 2 ** 20, 1e9, Infinity]) refuses('batchSize', { steps: 1, batchSize: v as never });
    for (const v of [0, 1.5, 2 ** 11, 2 ** 20, 2 ** 28, 'x']) refuses('gradientAccumulation', { steps: 1, gradientAccumulation: v as never });
    for (const v of [0, -1, 1.5, 'x', Number.NaN]) refuses('steps', { steps: v as never });
    for (const v of [0, 'x', -2]) refuses('epochs', { epochs: v as never });
    for (const v of [-1, 1.5, 'x']) refuses('warmupSteps', { steps: 1, warmupSteps: v as never });
    for (const v of ['x', 5, 'Cosine']) refuses('schedule', { steps: 1, schedule: v as never });
    for (const v of [-1, 'x', 1.5]) refuses('evalEvery', { steps: 1, evalEvery: v as never, evalData: data });
    for (const v of [0, 2 ** 20, 'x']) refuses('evalBatchSize', { steps: 1, evalBatchSize: v as never, evalData: data });
    for (const v of [-1, 1, 1.5, 'x']) refuses('startStep', { steps: 1, startStep: v as never });
    for (const v of [1.5, 'x', Number.NaN]) refuses('seed', { steps: 1, seed: v as never });
    for (const v of ['yes', 1]) refuses('checkpointing', { steps: 1, checkpointing: v as never });
    for (const v of [-1, 0.5, 'x']) refuses('checkpointEvery', { steps: 1, checkpointEvery: v as never });
    for (const v of ['x', 5]) refuses('onStep', { steps: 1, onStep: v as never });
    for (const options of [{ steps: 1, lr: 1e-3 }, { steps: 2, batchSize: 3, gradientAccumulation: 2, lr: 5e-3, schedule: 'cosine', warmupSteps: 1 }, { steps: 1, lr: 1e-2, maxGradNorm: 0, weightDecay: 0.1, betas: [0, 0.5], eps: 1e-6 }] as TrainOptions[]) {
      accepted('train options', trained(options));
    }
    typed('train options', 'batchSize', () => evaluate(model, data, { batchSize: 0 }));
    typed('train options', 'batchSize', () => evaluate(model, data, { batchSize: 1.5 }));
    typed('train options', 'batchSize', () => evaluate(model, tokenizedDataset(Array(2 ** 17).fill({ input_ids: Array(64).fill(1) }), { seqLen: 64 }), { batchSize: 2 ** 17 }));
    accepted('train options', async () => (Number.isFinite((await evaluate(model, data, { batchSize: 2 ** 30 })).loss) ? null : 'a non-finite loss'));

    // Datasets built by hand or by another tool: ids and labels are checked against the model at train time.
    const rowsOf = (examples: { ids: number[]; labels: number[] }[]): Dataset => ({ name: 'hand-made', examples, dropped: 0 });
    for (const [ids, labels] of [[[1, 2, 3], [1, 2, 40]], [[1, 2, 3], [1, 2, 2 ** 32 + 1]], [[1, 2, 40], [1, 2, 3]], [[1, -2, 3], [1, 2, 3]], [[1, 2, 3], [1, 2]], [[1, 2.5, 3], [1, 2, 3]], [[1, 2, 3], [1, 2, -7]]]) {
      refuses('hand-made', { steps: 1 }, rowsOf([{ ids, labels }]));
    }
    refuses('max_position_embeddings', { steps: 1 }, rowsOf([{ ids: Array(65).fill(1), labels: Array(65).fill(1) }]));
    refuses('label', { steps: 1 }, tokenizedDataset([{ input_ids: [1, 2, 3], labels: [1, 2, 99] }], { seqLen: 8 }));
    const tokenizer = { encode: (s: string) => [...s].map((c) => 1 + (c.charCodeAt(0) % 38)), eosTokenId: 39 } as unknown as TextTokenizer;
    const builders: [string, () => unknown][] = [
      ['text', () => textDataset(tokenizer, null as never, { seqLen: 8 })], ['text', () => textDataset(tokenizer, 42 as never, { seqLen: 8 })],
      ['text', () => textDataset(tokenizer, { text: 'a' } as never, { seqLen: 8 })], ['documents', () => textDataset(tokenizer, ['a', null] as never, { seqLen: 8 })],
      ['alpaca', () => alpacaDataset(tokenizer, 42 as never, { seqLen: 8 })], ['alpaca', () => alpacaDataset(tokenizer, null as never, { seqLen: 8 })],
      ['chat', () => chatDataset(tokenizer, [] as never, { seqLen: 8 })], ['rows', () => tokenizedDataset(42 as never, { seqLen: 8 })],
      ['row 0', () => tokenizedDataset([null] as never, { seqLen: 8 })], ['row 1', () => tokenizedDataset([{ input_ids: [1] }, 'x'] as never, { seqLen: 8 })],
      ['row 0', () => tokenizedDataset([{ input_ids: 42 }] as never, { seqLen: 8 })], ['row 0', () => tokenizedDataset([{ input_ids: [1, 2], labels: 'ab' }] as never, { seqLen: 8 })],
    ];
    for (const [names, build] of builders) typed('datasets', names, async () => build());

    // Adapter options.
    for (const v of [0, -1, 1.5, 'x', 1e9, 1e5, 2 ** 31, Number.NaN]) typed('adapter options', 'rank', async () => lora({ rank: v }).dispose());
    for (const v of [0, -1, 1e300, 1e-300, Number.NaN, 'x', Infinity]) typed('adapter options', 'alpha', async () => lora({ alpha: v }).dispose());
    for (const v of [1, -0.1, '0.1', Number.NaN]) typed('adapter options', 'dropout', async () => lora({ dropout: v }).dispose());
    for (const v of [[], ['fc1'], 'q_proj', [5]]) typed('adapter options', 'targets', async () => lora({ targets: v }).dispose());
    for (const [name, v] of [['rslora', 'yes'], ['iec', 1], ['seed', 1.5], ['seed', 'x']] as const) typed('adapter options', name, async () => lora({ [name]: v }).dispose());
    typed('adapter options', 'iec', async () => lora({ rank: 3, iec: true }).dispose());
    for (const v of [0, 3, 'x', 48]) typed('adapter options', 'groupSize', async () => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: v as never }).dispose());
    for (const v of [6, 128]) typed('adapter options', 'rank', async () => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: v, groupSize: 32 }).dispose());
    typed('adapter options', 'form', async () => AdapterSet.blora(rt, model.adaptableLinears(), { rank: 2, form: 'x' as never }).dispose());
    typed('adapter options', 'groupSize', trained({ steps: 1 }, () => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 16 })));
    accepted('adapter options', trained({ steps: 1, lr: 1e-2 }, () => lora({ rank: 2, alpha: 1e3, rslora: true })));
    accepted('adapter options', trained({ steps: 1, lr: 1e-2 }, () => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 32, iec: true })));

    // PEFT configs: fields that change the computation, scales f32 cannot hold, initialisations that rewrite the base.
    const source = lora({ rank: 4, targets: ['q_proj', 'down_proj'] });
    await train(model, source, data, { steps: 1, lr: 1e-2 });
    const good = await exportPeft(source);
    const peft = (cfg: unknown, weights: Uint8Array = good.weights) =>
      async () => (await importPeft(model, blobSource('p', { 'adapter_config.json': enc(cfg), 'adapter_model.safetensors': enc(weights) }))).dispose();
    const changesMath: [string, unknown][] = [
      ['alora_invocation_tokens', [1, 2]], ['use_dora', true], ['lora_bias', true], ['layer_replication', [[0, 1]]], ['trainable_token_indices', [1]],
      ['target_parameters', ['mlp.experts']], ['arrow_config', { top_k: 2 }], ['exclude_modules', ['q_proj']], ['use_qalora', true], ['fan_in_fan_out', true],
      ['rank_pattern', { q_proj: 8 }], ['alpha_pattern', { q_proj: 8 }], ['modules_to_save', ['lm_head']], ['layers_to_transform', [0]], ['some_future_field', 3],
      ['bias', 'all'], ['bias', 'lora_only'],
    ];
    for (const [name, value] of changesMath) typed('PEFT configs', name, peft({ ...good.config, [name]: value }));
    for (const init of ['pissa', 'pissa_niter_4', 'olora', 'corda', 'loftq']) typed('PEFT configs', 'init_lora_weights', peft({ ...good.config, init_lora_weights: init }));
    for (const alpha of [1e300, 1e-300, -8, 0, 'x', '8']) typed('PEFT configs', 'lora_alpha', peft({ ...good.config, lora_alpha: alpha }));
    for (const r of [0, -4, 1.5, 'x']) typed('PEFT configs', 'r', peft({ ...good.config, r }));
    for (const dropout of [1, -1, 'x']) typed('PEFT configs', 'dropout', peft({ ...good.config, lora_dropout: dropout }));
    for (const harmless of [{ init_lora_weights: 'gaussian' }, { peft_version: '0.17.1' }, { lora_bias: false, use_qalora: false, qalora_group_size: 16 }, { alora_invocation_tokens: null, exclude_modules: null, arrow_config: null }, { init_lora_weights: 'eva', eva_config: { rho: 2 } }]) {
      accepted('PEFT configs', async () => {
        const set = await importPeft(model, blobSource('p', { 'adapter_config.json': enc({ ...good.config, ...harmless }), 'adapter_model.safetensors': enc(good.weights) }));
        try {
          return await finite(set);
        } finally {
          set.dispose();
        }
      });
    }

    // Imported optimizer state: every moment checked, the second ones ≥ 0.
    const exported = await exportAdapter(source, { optimizer: true });
    const moments: NamedTensor[] = [];
    const optBytes = new Uint8Array(await exported['optimizer.safetensors'].arrayBuffer());
    for await (const t of readSafetensors(enc(optBytes).stream() as ReadableStream<Uint8Array>, 'o', optBytes.length)) moments.push({ name: t.name, shape: t.shape, data: t.data });
    const withMoments = (ts: NamedTensor[] | Uint8Array) => async () =>
      (await importAdapter(model, blobSource('o', { ...exported, 'optimizer.safetensors': enc(ts instanceof Uint8Array ? ts : writeSafetensors(ts)) }))).dispose();
    const vAt = moments.findIndex((t) => t.name.endsWith('.adam_v'));
    const mAt = moments.findIndex((t) => t.name.endsWith('.adam_m') && t.shape[0] !== t.shape[1]);
    const edit = (at: number, f: (t: NamedTensor) => NamedTensor) => moments.map((t, i) => (i === at ? f(t) : t));
    typed('optimizer state', 'negative second moment', withMoments(edit(vAt, (t) => ({ ...t, data: t.data.map((v, i) => (i === 3 ? -1e-3 : v)) }))));
    typed('optimizer state', 'non-finite', withMoments(edit(mAt, (t) => ({ ...t, data: t.data.map((v, i) => (i === 0 ? Number.NaN : v)) }))));
    typed('optimizer state', 'non-finite', withMoments(edit(vAt, (t) => ({ ...t, data: t.data.map((v, i) => (i === 1 ? Infinity : v)) }))));
    typed('optimizer state', 'has shape', withMoments(edit(mAt, (t) => ({ ...t, shape: [t.shape[1], t.shape[0]] }))));
    typed('optimizer state', 'has shape', withMoments(edit(mAt, (t) => ({ ...t, shape: [t.shape[0] * t.shape[1]] }))));
    typed('optimizer state', 'missing', withMoments(moments.filter((_, i) => i !== vAt)));
    typed('optimizer state', 'is not', withMoments([...moments, { name: 'x.adam_m', shape: [1], data: new Float32Array(1) }]));
    typed('optimizer state', 'optimizer.safetensors', withMoments(optBytes.subarray(0, optBytes.length - 7)));
    typed('optimizer state', 'optimizer.safetensors', withMoments(new Uint8Array([1, 2, 3])));
    accepted('optimizer state', async () => {
      const set = await importAdapter(model, blobSource('o', exported));
      try {
        await train(model, set, data, { steps: 2, startStep: 1, lr: 1e-2 });
        return await finite(set);
      } finally {
        set.dispose();
        model.adapters = null;
      }
    });

    // Merging: only mergeable, finite adapters of this model.
    const merged = async (make: () => AdapterSet, poison = false) => {
      const m = await LlamaModel.load(rt, blobSource('fuzz', modelFiles), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
      const a = make();
      try {
        if (poison) a.store.write(a.store.names[1], new Float32Array(a.store.shape(a.store.names[1]).reduce((x, y) => x * y, 1)).fill(Number.NaN));
        await mergeAdapters(m, a);
      } finally {
        a.dispose();
        m.dispose();
      }
    };
    typed('merging', 'method', () => merged(() => lora()));
    typed('merging', 'non-finite', () => merged(() => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 32 }), true));
    typed('merging', 'iec', () => merged(() => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 32, iec: true })));
    typed('merging', 'targets', () => merged(() => AdapterSet.qaLora(rt, [], { rank: 4, groupSize: 32 })));
    accepted('merging', async () => {
      await merged(() => AdapterSet.qaLora(rt, model.adaptableLinears(), { rank: 4, groupSize: 32 }));
      return null;
    });

    // The model cache: options, keys, and manifests that are damaged or describe another entry.
    let db = 0;
    const database = () => `qlora-web-fuzz-${Date.now()}-${db++}`;
    for (const v of [0, -1, 1.5, 'x', Number.NaN, null]) typed('model cache', 'chunkBytes', async () => new ModelCache({ database: database(), chunkBytes: v as never }));
    for (const v of ['', 5]) typed('model cache', 'database', async () => new ModelCache({ database: v as never }));
    for (const key of ['a\u0000b', '', 7, null]) {
      typed('model cache', 'key', async () => new ModelCache({ database: database() }).put(key as never, { a: enc('x') }));
      typed('model cache', 'key', async () => new ModelCache({ database: database() }).get(key as never));
    }
    const { createStore, get, set } = await import('idb-keyval');
    /** An entry 'mine' and an entry 'other' in one store; `damage` rewrites mine's manifest; get('mine') must miss,
     *  and must never return other's bytes. */
    const manifestCase = (damage: (mine: Record<string, unknown>, other: Record<string, unknown>) => unknown) => async () => {
      const name = database();
      const cache = new ModelCache({ database: name, chunkBytes: 16 });
      const store = createStore(name, 'model-files');
      await cache.put('mine', { 'model.safetensors': enc('mine: the bytes of this entry') });
      await cache.put('other', { 'model.safetensors': enc('other: the bytes of another entry') });
      const mine = (await get('manifest:mine', store)) as Record<string, unknown>;
      const other = (await get('manifest:other', store)) as Record<string, unknown>;
      await set('manifest:mine', damage(structuredClone(mine), structuredClone(other)), store);
      const hit = await cache.get('mine');
      if (hit && (await hit['model.safetensors']?.text())?.startsWith('other')) return "served another entry's bytes";
      if (hit) return 'a damaged manifest was served as a hit';
      return (await cache.list()).some((e) => e.key === 'mine') ? 'a damaged manifest is listed' : null;
    };
    const damages: ((m: Record<string, unknown>, o: Record<string, unknown>) => unknown)[] = [
      (_, o) => o, (m, o) => ({ ...o, key: m.key }), (m, o) => ({ ...m, files: o.files }), () => null, () => 'manifest', () => [], (m) => ({ ...m, files: null }),
      (m) => ({ ...m, key: undefined }), (m) => ({ ...m, version: '1' }), (m) => ({ ...m, bytes: -1 }),
      (m) => ({ ...m, files: { 'model.safetensors': { size: 5, chunks: [] } } }), (m) => ({ ...m, files: { 'model.safetensors': { size: 0, chunks: 'x' } } }),
      (m) => ({ ...m, files: { 'model.safetensors': { ...(m.files as Record<string, { size: number; chunks: { id: string }[] }>)['model.safetensors'], chunks: [{ id: 5, size: 1, sha256: 'x' }] } } }),
    ];
    for (const damage of damages) accepted('model cache', manifestCase(damage));

    // Checkpoints: run.json null, cut short, of the wrong shape; adapters of another step.
    const runFiles = await checkpointFiles(model, source, data, { steps: 3 }, 1);
    const runJson = JSON.parse(await runFiles['run.json'].text());
    for (const bad of ['null', '{', '', '[]', '42', JSON.stringify({ ...runJson, step: 'x' }), JSON.stringify({ ...runJson, version: 2 }), JSON.stringify({ ...runJson, base: null }), JSON.stringify({ ...runJson, options: 5 }), JSON.stringify({ ...runJson, data: undefined }), JSON.stringify(runJson).slice(0, 40)]) {
      typed('checkpoints', 'run.json', async () => (await checkpointFromFiles('r', { ...runFiles, 'run.json': enc(bad) }, model, data)).adapters.dispose());
    }
    typed('checkpoints', 'run.json', async () => (await checkpointFromFiles('r', Object.fromEntries(Object.entries(runFiles).filter(([f]) => f !== 'run.json')), model, data)).adapters.dispose());
    typed('checkpoints', 'step', async () => (await checkpointFromFiles('r', { ...runFiles, 'run.json': enc({ ...runJson, step: 2 }) }, model, data)).adapters.dispose());
    typed('checkpoints', 'dataset', async () => (await checkpointFromFiles('r', runFiles, model, tokenizedDataset(rows.slice(1), { seqLen: 16 }))).adapters.dispose());
    accepted('checkpoints', async () => {
      const { adapters } = await checkpointFromFiles('r', runFiles, model, data);
      adapters.dispose();
      return null;
    });
    source.dispose();

    const tally = new Map<string, { cases: number; typed: number; accepted: number; defects: number }>();
    const baseline = rt.pool.stats.bytesInUse;
    const failures: string[] = [];
    for (const [i, c] of cases.entries()) {
      const t = tally.get(c.family) ?? { cases: 0, typed: 0, accepted: 0, defects: 0 };
      tally.set(c.family, t);
      t.cases++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hang = new Promise<{ hang: true }>((resolve) => (timer = setTimeout(() => resolve({ hang: true }), CASE_LIMIT_MS)));
      const outcome = await Promise.race([c.run().then((wrong) => ({ wrong: wrong ?? null }), (error: unknown) => ({ error })), hang]);
      clearTimeout(timer);
      const want = c.expect === 'accepted' ? 'success' : `a typed error naming '${c.expect.names}'`;
      let defect: string | null = null;
      if ('hang' in outcome) defect = `no answer in ${CASE_LIMIT_MS} ms`;
      else if ('error' in outcome) {
        const e = outcome.error as Error;
        const ok = c.expect !== 'accepted' && TYPED.some((T) => e instanceof T) && String(e.message).includes(c.expect.names);
        if (ok) t.typed++;
        else defect = `wanted ${want}, got ${e?.name}: ${e?.message}`;
      } else if (c.expect !== 'accepted') defect = `wanted ${want}, but it was accepted`;
      else if (outcome.wrong) defect = outcome.wrong;
      else t.accepted++;
      if (rt.pool.stats.bytesInUse !== baseline) defect ??= `${rt.pool.stats.bytesInUse - baseline} GPU bytes left in use`;
      if (defect) {
        t.defects++;
        failures.push(`case ${i} (${c.family}): ${defect}`);
      }
      if (rt.pool.stats.bytesInUse !== baseline) break; // later cases would all inherit the leak
    }
    console.log(['family | cases | typed | accepted | defects', ...[...tally].map(([f, t]) => `${f} | ${t.cases} | ${t.typed} | ${t.accepted} | ${t.defects}`), `total | ${cases.length}`].join('\n'));
    model.dispose();
    expect(failures).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });
});
