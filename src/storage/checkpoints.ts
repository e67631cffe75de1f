// Training checkpoints in IndexedDB: the adapters with their AdamW moments (exportAdapter's files) and run.json (the
// step, the training options, and fingerprints of the base and the dataset), stored as one ModelCache entry per run.
// The data order and the dropout masks follow from the seed and the step, so the step is the data cursor and the RNG
// state: train({ ...options, startStep: step }) after loadCheckpoint continues the run bit for bit.
import { createSHA256 } from 'hash-wasm';
import type { AdapterSet } from '../adapters';
import { baseFingerprint, blobSource, exportAdapter, importAdapter, type LlamaModel } from '../model';
import { TrainingError, type Dataset, type TrainOptions } from '../train';
import type { ModelCache } from './model-cache';
import { field, readRecord } from './records';

/** The options a checkpoint keeps: those that are plain data (not callbacks, signals or datasets). */
export type CheckpointOptions = Omit<TrainOptions, 'evalData' | 'onStep' | 'onEval' | 'onCheckpoint' | 'signal' | 'startStep'>;

export interface RunState {
  version: 1;
  step: number;
  options: CheckpointOptions;
  base: string;
  data: string;
  savedAt: string;
}

const RUN = 'run.json';
const RUN_FIELDS = { version: field.is(1), step: field.count, options: field.object, base: field.string, data: field.string, savedAt: field.string };

/** Each dataset's fingerprint, taken once: a run saves a checkpoint every N steps over the same rows. */
const fingerprints = new WeakMap<Dataset, Promise<string>>();

/** SHA-256 over every row's ids and labels (and the row boundaries): another dataset, another fingerprint. */
export function datasetFingerprint(data: Dataset): Promise<string> {
  let f = fingerprints.get(data);
  if (!f) {
    f = hashRows(data);
    fingerprints.set(data, f);
  }
  return f;
}

async function hashRows(data: Dataset): Promise<string> {
  const h = await createSHA256();
  h.init();
  for (const e of data.examples) {
    h.update(new Uint8Array(Int32Array.of(e.ids.length).buffer));
    h.update(new Uint8Array(Int32Array.from(e.ids).buffer));
    h.update(new Uint8Array(Int32Array.from(e.labels).buffer));
  }
  return h.digest('hex');
}

function plainOptions(options: TrainOptions): CheckpointOptions {
  const { evalData: _e, onStep: _s, onEval: _v, onCheckpoint: _c, signal: _g, startStep: _t, ...rest } = options;
  return JSON.parse(JSON.stringify(rest));
}

/** A checkpoint's files: the adapters with their moments at `step` of a run, run.json, and `extra` files (e.g. what
 *  is needed to rebuild the dataset). */
export async function checkpointFiles(
  model: LlamaModel, adapters: AdapterSet, data: Dataset, options: TrainOptions, step: number, extra: Record<string, Blob> = {},
): Promise<Record<string, Blob>> {
  // train() has stamped the adapters with their base's fingerprint after its first step.
  const base = adapters.base ?? (await baseFingerprint(model));
  const state: RunState = { version: 1, step, options: plainOptions(options), base, data: await datasetFingerprint(data), savedAt: new Date().toISOString() };
  const files = await exportAdapter(adapters, { optimizer: true });
  return { ...extra, ...files, [RUN]: new Blob([JSON.stringify(state, null, 2)]) };
}

/** Saves checkpointFiles under `runId` in `store` (replacing the run's previous checkpoint) and returns them; with no
 *  store (no IndexedDB) they are only returned, for the caller to keep in memory. */
export async function saveCheckpoint(
  store: ModelCache | null, runId: string, model: LlamaModel, adapters: AdapterSet, data: Dataset, options: TrainOptions, step: number, extra: Record<string, Blob> = {},
): Promise<Record<string, Blob>> {
  const files = await checkpointFiles(model, adapters, data, options, step, extra);
  await store?.put(runId, files);
  return files;
}

/**
 * The run's last checkpoint on `model` and `data`, or null when there is none. A checkpoint of another base, method
 * or dataset is refused with a TrainingError (never a silently different run).
 */
export async function loadCheckpoint(store: ModelCache, runId: string, model: LlamaModel, data: Dataset): Promise<{ adapters: AdapterSet; state: RunState } | null> {
  const files = await store.get(runId);
  return files && checkpointFromFiles(runId, files, model, data);
}

/** loadCheckpoint over a checkpoint's files already read (store.get(runId)). */
export async function checkpointFromFiles(runId: string, files: Record<string, Blob>, model: LlamaModel, data: Dataset): Promise<{ adapters: AdapterSet; state: RunState }> {
  const state = await readRecord<RunState>(files[RUN], `checkpoint '${runId}' ${RUN}`, RUN_FIELDS);
  const base = await baseFingerprint(model);
  if (state.base !== base) throw new TrainingError(`checkpoint '${runId}' was saved on another base model (fingerprint ${state.base.slice(0, 12)}…, this one ${base.slice(0, 12)}…)`);
  if (state.data !== (await datasetFingerprint(data))) throw new TrainingError(`checkpoint '${runId}' was saved training on another dataset: resuming would not continue the same run`);
  const adapters = await importAdapter(model, blobSource(runId, files));
  if (adapters.trainedSteps !== state.step) {
    adapters.dispose();
    throw new TrainingError(`checkpoint '${runId}': the adapters hold step ${adapters.trainedSteps}, run.json says ${state.step}`);
  }
  return { adapters, state };
}
