// A cache of model files in IndexedDB (idb-keyval, one custom store): an entry is a set of named files (our quantized
// export: codes, statistics, config, tokenizer) under a key (model id, revision, quantization spec). Each file is
// stored in chunks of at most 64 MB, each with its size and SHA-256 (hash-wasm); the manifest naming them is written
// last, so an entry cut short by a crash or a full disk has no manifest and is never taken for a whole one. A new
// version of an entry is written beside the old one (its chunks carry a generation) and replaces it only when its
// manifest is written: a checkpoint cut short by a closed page leaves the previous checkpoint whole. On read
// every chunk is checked: a missing or corrupt one makes the entry a miss (reported, then deleted), so the caller
// fetches it again. Before writing, the space is checked with navigator.storage.estimate() and persistence requested;
// a QuotaExceededError becomes a StorageQuotaError that says how many bytes were needed, with nothing left behind.
import { sha256 } from 'hash-wasm';
import { createStore, del, delMany, get, keys, set, type UseStore } from 'idb-keyval';
import { StorageError, StorageQuotaError } from './errors';
import { checkRecord, field } from './records';

/** Bumped when the stored layout changes: entries of another version are misses (and deleted). */
export const CACHE_FORMAT_VERSION = 1;
const MAX_CHUNK = 64 << 20;

interface ChunkInfo {
  id: string;
  size: number;
  sha256: string;
}

export interface CacheManifest {
  version: number;
  key: string;
  bytes: number;
  createdAt: string;
  files: Record<string, { size: number; chunks: ChunkInfo[] }>;
}

export interface CacheEntryInfo {
  key: string;
  bytes: number;
  files: string[];
  createdAt: string;
}

/** Why a get() missed an entry that was there. */
export interface CacheProblem {
  key: string;
  reason: 'version' | 'bad manifest' | 'missing chunk' | 'corrupt chunk';
  detail: string;
}

export interface ModelCacheOptions {
  /** IndexedDB database name, default 'qlora-web'. */
  database?: string;
  /** Bytes per chunk, default (and at most) 64 MB. */
  chunkBytes?: number;
  /** Told of entries found broken on read (then deleted). */
  onProblem?: (p: CacheProblem) => void;
}

const manifestKey = (key: string) => `manifest:${key}`;
// The key is followed by a generation and the file name; '\u0000' cannot occur in a key, so one key's prefix is never another's.
const chunkPrefix = (key: string) => `chunk:${key}\u0000`;
const CHUNK = field.record({ id: field.string, size: field.count, sha256: field.string });
const MANIFEST_FIELDS = {
  version: field.is(CACHE_FORMAT_VERSION), key: field.string, bytes: field.count, createdAt: field.string,
  files: field.mapOf(field.record({ size: field.count, chunks: field.listOf(CHUNK) })),
};

/** Keys are non-empty strings without U+0000 (the separator of chunk ids). */
function checkKey(key: unknown): string {
  if (typeof key !== 'string' || !key) throw new StorageError('key', `must be a non-empty string, got ${JSON.stringify(key) ?? typeof key}`);
  if (key.includes('\u0000')) throw new StorageError('key', `cannot hold U+0000 (at ${key.indexOf('\u0000')} of ${JSON.stringify(key)})`);
  return key;
}

const isQuotaError = (e: unknown) => e instanceof Error && (e.name === 'QuotaExceededError' || /quota/i.test(e.message));

export class ModelCache {
  private readonly store: UseStore;
  private readonly chunkBytes: number;

  constructor(private readonly options: ModelCacheOptions = {}) {
    const { database = 'qlora-web', chunkBytes = MAX_CHUNK } = options;
    if (typeof database !== 'string' || !database) throw new StorageError('database', `must be a non-empty string, got ${JSON.stringify(database)}`);
    if (!(Number.isSafeInteger(chunkBytes) && chunkBytes >= 1)) throw new StorageError('chunkBytes', `must be a whole number of bytes ≥ 1, got ${JSON.stringify(chunkBytes)}`);
    this.store = createStore(database, 'model-files');
    this.chunkBytes = Math.min(chunkBytes, MAX_CHUNK);
  }

  /** Stores `files` under `key`, replacing what was there once the new manifest is written (until then the old
   *  entry stays whole); resolves after that. */
  async put(key: string, files: Record<string, Blob>, onProgress?: (p: { loaded: number; total: number; file: string }) => void): Promise<void> {
    checkKey(key);
    const total = Object.values(files).reduce((a, f) => a + f.size, 0);
    await checkSpace(total);
    const generation = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const written: string[] = [];
    const manifest: CacheManifest = { version: CACHE_FORMAT_VERSION, key, bytes: total, createdAt: new Date().toISOString(), files: {} };
    let loaded = 0;
    try {
      for (const [name, blob] of Object.entries(files)) {
        const chunks: ChunkInfo[] = [];
        for (let at = 0, i = 0; at < blob.size || (blob.size === 0 && i === 0); at += this.chunkBytes, i++) {
          const bytes = new Uint8Array(await blob.slice(at, at + this.chunkBytes).arrayBuffer());
          const id = `${chunkPrefix(key)}${generation}:${name}:${i}`;
          await set(id, bytes, this.store);
          written.push(id);
          chunks.push({ id, size: bytes.byteLength, sha256: await sha256(bytes) });
          loaded += bytes.byteLength;
          onProgress?.({ loaded, total, file: name });
          if (blob.size === 0) break;
        }
        manifest.files[name] = { size: blob.size, chunks };
      }
      await set(manifestKey(key), manifest, this.store);
    } catch (e) {
      await delMany(written, this.store).catch(() => {});
      if (isQuotaError(e)) throw new StorageQuotaError(total, null, `storing '${key}' needs ${total} bytes and the browser's quota ran out (${(e as Error).message}); nothing was kept`);
      throw e;
    }
    // The new manifest is in place: the old generation's chunks (and any a crashed write left) go.
    await this.deleteChunks(key, new Set(written));
  }

  /** The entry's files, every chunk checked; null on a miss (absent, another format version, a bad chunk). */
  async get(key: string): Promise<Record<string, Blob> | null> {
    const stored = await get<unknown>(manifestKey(checkKey(key)), this.store);
    if (stored === undefined) return null;
    const broken = async (reason: CacheProblem['reason'], detail: string) => {
      this.options.onProblem?.({ key, reason, detail });
      await this.delete(key);
      return null;
    };
    const version = (stored as Partial<CacheManifest> | null)?.version;
    if (typeof version === 'number' && version !== CACHE_FORMAT_VERSION) return broken('version', `written by cache format ${JSON.stringify(version)}, this library reads ${CACHE_FORMAT_VERSION}`);
    let manifest: CacheManifest;
    try {
      manifest = checkManifest(stored, key);
    } catch (e) {
      return broken('bad manifest', (e as Error).message);
    }
    const files: Record<string, Blob> = {};
    for (const [name, f] of Object.entries(manifest.files)) {
      const parts: Uint8Array[] = [];
      for (const c of f.chunks) {
        const bytes = await get<Uint8Array>(c.id, this.store);
        if (!bytes) return broken('missing chunk', `${name}: chunk ${c.id} is gone`);
        if (bytes.byteLength !== c.size || (await sha256(bytes)) !== c.sha256) return broken('corrupt chunk', `${name}: chunk ${c.id} does not match its SHA-256`);
        parts.push(bytes);
      }
      files[name] = new Blob(parts as BlobPart[]);
    }
    return files;
  }

  /** Every whole entry (those with a manifest), with its size. */
  async list(): Promise<CacheEntryInfo[]> {
    const out: CacheEntryInfo[] = [];
    for (const k of await keys(this.store)) {
      if (typeof k !== 'string' || !k.startsWith('manifest:')) continue;
      const key = k.slice('manifest:'.length);
      let m: CacheManifest;
      try {
        m = checkManifest(await get<unknown>(k, this.store), key);
      } catch {
        continue; // not a whole entry: get() reports and deletes it
      }
      out.push({ key: m.key, bytes: m.bytes, files: Object.keys(m.files), createdAt: m.createdAt });
    }
    return out;
  }

  /** A StorageQuotaError when `bytes` more than the browser offers this origin would not fit (persistence is requested
   *  first); nothing where the platform has no storage estimate. put() checks its own entries the same way. */
  async checkSpace(bytes: number): Promise<void> {
    await checkSpace(bytes);
  }

  /** Removes the entry: its manifest first (so it is a miss at once), then its chunks, written or half-written. */
  async delete(key: string): Promise<void> {
    await del(manifestKey(checkKey(key)), this.store);
    await this.deleteChunks(key, new Set());
  }

  private async deleteChunks(key: string, keep: Set<string>): Promise<void> {
    const prefix = chunkPrefix(key);
    const chunks = (await keys(this.store)).filter((k) => typeof k === 'string' && k.startsWith(prefix) && !keep.has(k));
    await delMany(chunks, this.store);
  }
}

/** The manifest stored under `key`, checked: its shape, and that it describes this key's entry (its own key, and
 *  chunks under this key), so a manifest copied or written under another key is never served as this entry. */
function checkManifest(value: unknown, key: string): CacheManifest {
  const m = checkRecord<CacheManifest>(value, `cache manifest of '${key}'`, MANIFEST_FIELDS);
  if (m.key !== key) throw new StorageError(`cache manifest of '${key}'`, `describes the entry '${m.key}'`);
  for (const [name, f] of Object.entries(m.files)) {
    const foreign = f.chunks.find((c) => !c.id.startsWith(chunkPrefix(key)));
    if (foreign) throw new StorageError(`cache manifest of '${key}'`, `${name}: chunk ${foreign.id} belongs to another entry`);
    if (f.chunks.reduce((a, c) => a + c.size, 0) !== f.size) throw new StorageError(`cache manifest of '${key}'`, `${name}: its chunks do not add up to its ${f.size} bytes`);
  }
  return m;
}

/** Requests persistent storage and refuses a write the quota cannot hold, before anything is written. */
async function checkSpace(bytes: number): Promise<void> {
  const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
  if (!storage?.estimate) return;
  await storage.persist?.().catch(() => false);
  const { quota, usage } = await storage.estimate();
  if (quota === undefined || usage === undefined) return;
  const available = quota - usage;
  if (bytes > available) {
    throw new StorageQuotaError(bytes, available, `caching needs ${bytes} bytes but the browser offers ${available} (quota ${quota}, used ${usage}); free space or delete cached models`);
  }
}
