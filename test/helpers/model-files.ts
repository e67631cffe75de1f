// Model files for tests: the committed parity fixtures (fetched from the Vite server in Chromium, read
// from disk in Node) and, in Node only, a real model and corpora from the data directory QLORA_DATA_DIR names.
import { nodeDirSource, urlSource, type LlamaModel, type ModelSource } from '../../src/model';

const inBrowser = typeof window !== 'undefined';
/** The data directory (QLORA_DATA_DIR): models/micro-llama-6m/ (a small LLaMA with its tokenizer and reference
 *  metrics) and data/{war_and_peace,sotu,tinyshakespeare}.txt, which are read but never committed. Unset, the suites
 *  that need it are skipped with one line saying so. */
export const DATA_DIR: string | null = (typeof process !== 'undefined' && process.env?.QLORA_DATA_DIR) || null;

/** For a suite that needs the data directory: true when it is there; otherwise prints one line and returns false. */
export function hasDataDir(suite: string): boolean {
  if (DATA_DIR) return true;
  console.log(`skipped ${suite}: it reads micro-llama-6m and the corpora from a data directory; set QLORA_DATA_DIR to run it`);
  return false;
}

async function nodeFs() {
  return import(/* @vite-ignore */ ['node', 'fs'].join(':')) as Promise<typeof import('node:fs')>;
}

/** One of test/fixtures/llama/<name>. */
export async function fixtureSource(name: string): Promise<ModelSource> {
  const dir = `test/fixtures/llama/${name}`;
  return fixtureDirSource(dir);
}

export async function readText(path: string): Promise<string> {
  return (await nodeFs()).readFileSync(path, 'utf8');
}

/** A committed fixture directory (e.g. test/fixtures/peft/ours) as a ModelSource: by URL from the Vite server in
 *  Chromium, from disk in Node (the same files either way). */
export async function fixtureDirSource(dir: string): Promise<ModelSource> {
  return inBrowser ? urlSource(`/${dir}`) : nodeDirSource(dir);
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
