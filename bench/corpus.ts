// The public-domain corpora of the data directory (CORPUS_DIR) as the benchmarks read them, and micro-llama-6m's split of each
// (metrics.json: the first 90 % of the characters, cut at a newline, trains; the rest validates).
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** A corpus as text, from <corpus>.txt or an older pack's <corpus>.txt.gz. */
export function readCorpus(dir: string, corpus: string): string {
  const path = `${dir}/${corpus}.txt`;
  return existsSync(path) ? readFileSync(path, 'utf8') : gunzipSync(readFileSync(`${path}.gz`)).toString('utf8');
}

export function splitCorpus(text: string): { train: string; validation: string } {
  const cut = text.lastIndexOf('\n', Math.floor(0.9 * text.length));
  return { train: text.slice(0, cut), validation: text.slice(cut) };
}
