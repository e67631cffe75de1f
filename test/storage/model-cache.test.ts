// The IndexedDB model cache (src/storage): chunked entries with SHA-256 per chunk and the manifest written last; a
// corrupt or missing chunk, an entry of another format version and a half-written entry are misses; a quota shortfall
// is a StorageQuotaError that leaves nothing behind; a cached load skips the weights' download and the quantization.
// Chromium runs it over its real IndexedDB, Node over fake-indexeddb.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cacheKey, type CacheManifest } from '../../src/storage';
import { loadCachedModel, ModelCache, type CacheProblem, type ModelSource } from '../../src/runtime';
import { StorageQuotaError } from '../../src';
import { testRuntime } from '../helpers/gpu';
import { ensureIndexedDb } from '../helpers/indexeddb';
import { fixtureSource, logits } from '../helpers/model-files';

beforeAll(ensureIndexedDb);

let n = 0;
/** A cache in a database of its own (tests do not share entries). */
function freshCache(problems: CacheProblem[] = [], chunkBytes = 1000): ModelCache {
  return new ModelCache({ database: `qlora-web-test-${Date.now()}-${n++}`, chunkBytes, onProblem: (p) => problems.push(p) });
}

function bytes(count: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: count }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24));
}

async function raw(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

afterEach(() => vi.unstubAllGlobals());

describe('model cache', () => {
  it('round-trips files in chunks, lists and deletes entries', async () => {
    const cache = freshCache();
    const files = { 'a.bin': new Blob([bytes(2500, 1) as BlobPart]), 'b.json': new Blob(['{"x":1}']), 'empty': new Blob([]) };
    const progress: number[] = [];
    await cache.put('m@main|nf-4-64', files, (p) => progress.push(p.loaded));
    expect(progress.at(-1)).toBe(2507);
    const got = (await cache.get('m@main|nf-4-64'))!;
    expect(Object.keys(got).sort()).toEqual(['a.bin', 'b.json', 'empty']);
    expect(await raw(got['a.bin'])).toEqual(bytes(2500, 1));
    expect(await got['b.json'].text()).toBe('{"x":1}');
    expect(got.empty.size).toBe(0);
    expect(await cache.list()).toEqual([expect.objectContaining({ key: 'm@main|nf-4-64', bytes: 2507 })]);
    await cache.delete('m@main|nf-4-64');
    expect(await cache.get('m@main|nf-4-64')).toBeNull();
    expect(await cache.list()).toEqual([]);
  });

  it('a corrupt chunk, a missing chunk and another format version are misses, reported and removed', async () => {
    const { createStore, set, del, get } = await import('idb-keyval');
    const problems: CacheProblem[] = [];
    const database = `qlora-web-test-broken-${Date.now()}`;
    const cache = new ModelCache({ database, chunkBytes: 1000, onProblem: (p) => problems.push(p) });
    const store = createStore(database, 'model-files');
    const files = { 'model.safetensors': new Blob([bytes(3000, 2) as BlobPart]) };
    const chunk = async (i: number) => (await get<CacheManifest>('manifest:k', store))!.files['model.safetensors'].chunks[i].id;
    await cache.put('k', files);
    const corrupt = await chunk(1);
    const flipped = (await get<Uint8Array>(corrupt, store))!.slice();
    flipped[17] ^= 1;
    await set(corrupt, flipped, store);
    expect(await cache.get('k')).toBeNull();
    await cache.put('k', files);
    await del(await chunk(2), store);
    expect(await cache.get('k')).toBeNull();
    await cache.put('k', files);
    await set('manifest:k', { ...(await get('manifest:k', store)), version: 0 }, store);
    expect(await cache.get('k')).toBeNull();
    expect(problems.map((p) => p.reason)).toEqual(['corrupt chunk', 'missing chunk', 'version']);
    expect(problems[0].detail).toBe(`model.safetensors: chunk ${corrupt} does not match its SHA-256`);
    expect(await cache.list()).toEqual([]);
  });

  it('a replacement cut short leaves the previous entry whole; a finished one leaves no chunk of the old', async () => {
    const { createStore, keys } = await import('idb-keyval');
    const database = `qlora-web-test-replace-${Date.now()}`;
    const cache = new ModelCache({ database, chunkBytes: 1000 });
    await cache.put('run', { 'a.bin': new Blob([bytes(2500, 5) as BlobPart]) });
    const failing = new Blob([bytes(2500, 6) as BlobPart]);
    const real = failing.slice.bind(failing);
    let slices = 0;
    failing.slice = (...args: Parameters<Blob['slice']>) => {
      if (++slices === 2) throw new Error('the page closed');
      return real(...args);
    };
    await expect(cache.put('run', { 'a.bin': failing })).rejects.toThrow('the page closed');
    expect(await raw((await cache.get('run'))!['a.bin'])).toEqual(bytes(2500, 5));
    await cache.put('run', { 'a.bin': new Blob([bytes(1500, 7) as BlobPart]) });
    expect(await raw((await cache.get('run'))!['a.bin'])).toEqual(bytes(1500, 7));
    const stored = (await keys(createStore(database, 'model-files'))).filter((k) => String(k).startsWith('chunk:'));
    expect(stored).toHaveLength(2);
  });

  it('a write that fails part-way leaves no manifest and no chunks; a quota shortfall says how many bytes were needed', async () => {
    const problems: CacheProblem[] = [];
    const cache = freshCache(problems);
    let slices = 0;
    const failing = new Blob([bytes(5000, 3) as BlobPart]);
    const real = failing.slice.bind(failing);
    failing.slice = (...args: Parameters<Blob['slice']>) => {
      if (++slices === 3) throw Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
      return real(...args);
    };
    await expect(cache.put('big', { 'model.safetensors': failing })).rejects.toThrow(StorageQuotaError);
    expect(await cache.get('big')).toBeNull();
    expect(await cache.list()).toEqual([]);
    expect(problems).toEqual([]);
    // estimate() below the need: refused before anything is written.
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ quota: 10_000, usage: 9_000 }), persist: async () => true } });
    const err = await cache.put('big', { 'model.safetensors': new Blob([bytes(5000, 4) as BlobPart]) }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageQuotaError);
    expect([err.neededBytes, err.availableBytes]).toEqual([5000, 1000]);
    expect(err.message).toMatch(/needs 5000 bytes but the browser offers 1000/);
    expect(await cache.list()).toEqual([]);
  });

  it('a model whose entry the quota cannot hold is refused before any weight is downloaded', async () => {
    const rt = await testRuntime();
    const fixture = await fixtureSource('gqa');
    const requests: string[] = [];
    const counted: ModelSource = { name: 'gqa@quota', file: (path) => (requests.push(path), fixture.file(path)) };
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ quota: 50_000, usage: 40_000 }), persist: async () => true } });
    const err = await loadCachedModel(rt, counted, freshCache(), { quant: { codebook: 'nf', bits: 4, groupSize: 32 } }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageQuotaError);
    expect(err.availableBytes).toBe(10_000);
    expect(err.message).toMatch(/caching needs \d+ bytes but the browser offers 10000/);
    expect(requests.filter((p) => p.endsWith('.safetensors'))).toEqual([]);
  });

  it('a second load comes from the cache: no weight request, no quantization, the same logits', async () => {
    const rt = await testRuntime();
    const fixture = await fixtureSource('gqa');
    const requests: string[] = [];
    const counted: ModelSource = { name: 'gqa@test', file: (path) => (requests.push(path), fixture.file(path)) };
    const cache = freshCache([], 64 << 10);
    const quant = { codebook: 'nf' as const, bits: 4 as const, groupSize: 32 as const, calibrate: 'icq' as const };
    const first = await loadCachedModel(rt, counted, cache, { quant });
    expect(first.fromCache).toBe(false);
    expect(requests).toContain('model.safetensors');
    requests.length = 0;
    const second = await loadCachedModel(rt, counted, cache, { quant });
    expect(second.fromCache).toBe(true);
    expect(requests).toEqual([]);
    const ids = [3, 17, 99, 4, 250, 31];
    expect(await logits(second.model, ids)).toEqual(await logits(first.model, ids));
    expect((await cache.list())[0].key).toBe(cacheKey(counted, quant));
    // Another spec is another entry.
    const third = await loadCachedModel(rt, counted, cache, { quant: { ...quant, bits: 3 } });
    expect(third.fromCache).toBe(false);
    // Files of one spec stored under another spec's key (their chunks hash fine) are dropped, never loaded as it.
    await cache.put(cacheKey(counted, quant), (await cache.get(cacheKey(counted, { ...quant, bits: 3 })))!);
    const dropped: string[] = [];
    const fourth = await loadCachedModel(rt, counted, cache, { quant, onDropped: (r) => dropped.push(r) });
    expect(fourth.fromCache).toBe(false);
    expect(dropped).toEqual(['the cached model is quantized as nf-3-32-icq-f32, not nf-4-32-icq-f32']);
    expect(await logits(fourth.model, ids)).toEqual(await logits(first.model, ids));
    // A quantized embedding is an entry of its own, stored and read back quantized; an f32 entry under its key is dropped.
    expect(cacheKey(counted, quant, false, 'quantized')).toBe(`${cacheKey(counted, quant)}-embed`);
    const fifth = await loadCachedModel(rt, counted, cache, { quant, embedding: 'quantized' });
    const sixth = await loadCachedModel(rt, counted, cache, { quant, embedding: 'quantized' });
    expect([fifth.fromCache, sixth.fromCache, sixth.model.weights.embed.kind]).toEqual([false, true, 'quantized']);
    expect(await logits(sixth.model, ids)).toEqual(await logits(fifth.model, ids));
    await cache.put(cacheKey(counted, quant, false, 'quantized'), (await cache.get(cacheKey(counted, quant)))!);
    const seventh = await loadCachedModel(rt, counted, cache, { quant, embedding: 'quantized', onDropped: (r) => dropped.push(r) });
    expect([seventh.fromCache, dropped[1]]).toEqual([false, "the cached model's embedding is not quantized"]);
    for (const m of [first.model, second.model, third.model, fourth.model, fifth.model, sixth.model, seventh.model]) m.dispose();
  });
});
