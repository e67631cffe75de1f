// Model files for tests: the committed parity fixtures (fetched from the Vite server in Chromium, read
// from disk in Node) and, in Node only, the real model and corpora in ../shared.
import { blobSource, urlSource, type LlamaModel, type ModelSource } from '../../src/model';

const inBrowser = typeof window !== 'undefined';
/** ../shared (the model and corpora this project may read but not commit); QLORA_SHARED_DIR overrides. */
export const SHARED = (typeof process !== 'undefined' && process.env?.QLORA_SHARED_DIR) || '../shared';
const FIXTURE_FILES = ['config.json', 'model.safetensors', 'reference.safetensors', 'reference-nf4-icq.safetensors'];

async function nodeFs() {
  return import(/* @vite-ignore */ ['node', 'fs'].join(':')) as Promise<typeof import('node:fs')>;
}

/** A directory on disk as a ModelSource (Node only). */
export async function dirSource(dir: string, files: string[]): Promise<ModelSource> {
  const fs = await nodeFs();
  const blobs: Record<string, Blob> = {};
  for (const f of files) if (fs.existsSync(`${dir}/${f}`)) blobs[f] = await fs.openAsBlob(`${dir}/${f}`);
  return blobSource(dir, blobs);
}

/** One of test/fixtures/llama/<name>. */
export async function fixtureSource(name: string): Promise<ModelSource> {
  const dir = `test/fixtures/llama/${name}`;
  return inBrowser ? urlSource(`/${dir}`) : dirSource(dir, FIXTURE_FILES);
}

export async function readText(path: string): Promise<string> {
  return (await nodeFs()).readFileSync(path, 'utf8');
}

/** A committed fixture directory (e.g. test/fixtures/peft/ours) as a ModelSource with the named files. */
export async function fixtureDirSource(dir: string, files: string[]): Promise<ModelSource> {
  return inBrowser ? urlSource(`/${dir}`) : dirSource(dir, files);
}

/** The model's logits [ids.length, vocab] for one sequence (with its attached adapters). */
export async function logits(model: LlamaModel, ids: number[]): Promise<Float32Array> {
  const cache = model.createCache(1, ids.length);
  const l = await model.forward({ ids, batch: 1 }, cache, { logits: 'all' });
  const out = (await model.rt.read(l)) as Float32Array;
  model.rt.free(l);
  model.freeCache(cache);
  return out;
}
