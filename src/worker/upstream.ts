// What identifies a URL model's description upstream: the ETags of config.json and the tokenizer files, read with HEAD
// requests (no body). The cache keeps them beside the quantized model; a warm load asks again, so a revision that moved
// (a push to 'main') is refetched instead of served stale. Offline, the cached copy is used and the caller told.
import { fetchChecked } from '../model';

export const UPSTREAM = 'upstream.json';
const DESCRIBED_BY = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

export type UpstreamTags = Record<string, string | null>;

export async function upstreamTags(base: string, init: RequestInit): Promise<UpstreamTags> {
  const tags: UpstreamTags = {};
  for (const file of DESCRIBED_BY) {
    const r = await fetchChecked(`${base}/${file}`, { ...init, method: 'HEAD' });
    // The hub names a file's content by X-Linked-Etag where the ETag is the redirect's.
    tags[file] = r.status === 404 ? null : r.headers.get('x-linked-etag') ?? r.headers.get('etag') ?? r.headers.get('last-modified');
  }
  return tags;
}

/** The files whose tags differ, or [] when they match (a file neither side tags counts as unchanged). */
export function changedFiles(stored: UpstreamTags, now: UpstreamTags): string[] {
  return Object.keys({ ...stored, ...now }).filter((f) => (stored[f] ?? null) !== (now[f] ?? null));
}
