// Training checkpoints in IndexedDB: a run checkpointed every 2 steps and aborted, then resumed from the store (as
// after a page reload: new adapters, nothing kept in memory), ends with the uninterrupted run's parameters and loss
// curve, bit for bit; a checkpoint of another base or dataset is refused. Node runs it over fake-indexeddb.
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet, LlamaModel, loadCheckpoint, ModelCache, saveCheckpoint, train, type TrainOptions } from '../../src/runtime';
import { tokenizedDataset, TrainingError } from '../../src';
import { testRuntime } from '../helpers/gpu';
import { ensureIndexedDb } from '../helpers/indexeddb';
import { fixtureSource } from '../helpers/model-files';

beforeAll(ensureIndexedDb);

const ROWS = Array.from({ length: 6 }, (_, r) => ({ input_ids: Array.from({ length: 8 }, (_, t) => 3 + ((r * 29 + t * 13) % 250)) }));

describe('training checkpoints', () => {
  it('checkpointed every 2 steps, aborted, resumed from IndexedDB: the same parameters and losses as one run', async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'int', bits: 4, groupSize: 32 } });
    const data = tokenizedDataset(ROWS, { seqLen: 8 });
    const create = () => AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, dropout: 0.1, seed: 3, iec: true });
    const options: TrainOptions = { steps: 6, batchSize: 2, lr: 2e-2, schedule: 'linear', warmupSteps: 2, seed: 5 };
    const whole = create();
    const uninterrupted = await train(model, whole, data, options);

    const store = new ModelCache({ database: `qlora-web-checkpoints-${Date.now()}`, chunkBytes: 4096 });
    const saved: number[] = [];
    const first = create();
    const abort = new AbortController();
    const run1 = await train(model, first, data, {
      ...options, signal: abort.signal, checkpointEvery: 2,
      onStep: (s) => s.step === 3 && abort.abort(),
      onCheckpoint: async (step) => {
        saved.push(step);
        await saveCheckpoint(store, 'run-1', model, first, data, options, step);
      },
    });
    expect(run1.stopped).toBe('aborted');
    expect(saved[0]).toBe(2);
    expect(saved.at(-1)).toBe(first.trainedSteps);
    first.dispose(); // the page reloads: nothing but IndexedDB survives

    const restored = (await loadCheckpoint(store, 'run-1', model, data))!;
    expect(restored.state.step).toBe(saved.at(-1));
    expect(restored.state.options).toEqual(options);
    const run2 = await train(model, restored.adapters, data, { ...restored.state.options, startStep: restored.state.step });
    const losses = [...run1.steps.filter((s) => s.step <= restored.state.step), ...run2.steps].map((s) => s.loss);
    expect(losses).toEqual(uninterrupted.steps.map((s) => s.loss));
    const [want, got] = [await whole.store.read(), await restored.adapters.store.read()];
    for (const [name, values] of want) expect(got.get(name), name).toEqual(values);

    // Another dataset, another base: refused.
    await expect(loadCheckpoint(store, 'run-1', model, tokenizedDataset(ROWS.slice(1), { seqLen: 8 }))).rejects.toThrow(/saved training on another dataset/);
    const other = await LlamaModel.load(rt, await fixtureSource('gqa'), { quant: { codebook: 'nf', bits: 3, groupSize: 32 } });
    await expect(loadCheckpoint(store, 'run-1', other, data)).rejects.toThrow(TrainingError);
    expect(await loadCheckpoint(store, 'no-such-run', model, data)).toBeNull();
    for (const s of [whole, restored.adapters]) s.dispose();
    other.dispose();
    model.dispose();
  });
});
