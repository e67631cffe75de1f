// Sources in Node: a directory on disk (nodeDirSource), and the typed errors of a URL source — gated (401/403), a
// network or CORS failure, a server error — each naming the URL; a 404 is a missing file the loader names; a
// connection dropped mid-shard resumes with Range (a local server injects the fault).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hubSource, LlamaModel, nodeDirSource, urlSource } from '../../src/runtime';
import { ModelFormatError, SourceError } from '../../src';
import { testRuntime } from '../helpers/gpu';
import { fixtureSource, logits } from '../helpers/model-files';
import { startModelServer } from '../helpers/model-server';

afterEach(() => vi.unstubAllGlobals());

describe('sources', () => {
  it('nodeDirSource reads a directory on disk: the model it loads is the fixture', async () => {
    const rt = await testRuntime();
    const source = await nodeDirSource('test/fixtures/llama/gqa');
    expect(await source.file('reference.safetensors')).not.toBeNull();
    expect(await source.file('nope.json')).toBeNull();
    const [a, b] = [await LlamaModel.load(rt, source), await LlamaModel.load(rt, await fixtureSource('gqa'))];
    expect(await logits(a, [3, 4, 5])).toEqual(await logits(b, [3, 4, 5]));
    a.dispose();
    b.dispose();
  });

  it('nodeDirSource gives a file past 4 GiB (a 5 GB shard) its whole size', async () => {
    // Sparse: no disk space, and only the size is read.
    const { mkdtempSync, openSync, ftruncateSync, closeSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync(`${(await import('node:os')).tmpdir()}/big-`);
    try {
      const fd = openSync(`${dir}/model-00001-of-00004.safetensors`, 'w');
      ftruncateSync(fd, 4_976_698_672);
      closeSync(fd);
      expect((await (await nodeDirSource(dir)).file('model-00001-of-00004.safetensors'))!.size).toBe(4_976_698_672);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a URL source names the URL and what to do: gated, network or CORS failure, server error; 404 is a missing file', async () => {
    const answer = (status: number) => vi.fn(async () => new Response(status === 200 ? '{}' : 'no', { status, statusText: status === 500 ? 'Internal Server Error' : '' }));
    vi.stubGlobal('fetch', answer(401));
    const gated = await hubSource('meta-llama/Llama-3.2-1B', 'main', { headers: { Authorization: 'Bearer x' } }).file('config.json').catch((e) => e);
    expect(gated).toBeInstanceOf(SourceError);
    expect([gated.url, gated.status]).toEqual(['https://huggingface.co/meta-llama/Llama-3.2-1B/resolve/main/config.json', 401]);
    expect(gated.message).toMatch(/gated or private.*Authorization/);
    vi.stubGlobal('fetch', answer(403));
    await expect(urlSource('https://example.org/m').file('config.json')).rejects.toThrow(/HTTP 403: the model is gated/);
    vi.stubGlobal('fetch', answer(500));
    await expect(urlSource('https://example.org/m').file('config.json')).rejects.toThrow(/example\.org\/m\/config\.json: HTTP 500 Internal Server Error/);
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    const offline = await urlSource('https://example.org/m').file('config.json').catch((e) => e);
    expect([offline.name, offline.status]).toEqual(['SourceError', null]);
    expect(offline.message).toMatch(/failed before any answer \(Failed to fetch\).*CORS/);
    // A single-page-app server's index.html for a missing path is a missing file, not a malformed one.
    vi.stubGlobal('fetch', vi.fn(async () => new Response('<!doctype html>', { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } })));
    expect(await urlSource('https://example.org/m').file('quantization.json')).toBeNull();
    vi.stubGlobal('fetch', answer(404));
    const rt = await testRuntime();
    await expect(LlamaModel.load(rt, urlSource('https://example.org/m'))).rejects.toThrow(ModelFormatError);
    await expect(LlamaModel.load(rt, urlSource('https://example.org/m'))).rejects.toThrow(/config\.json: not found in https:\/\/example\.org\/m/);
  });

  it('a connection dropped mid-shard resumes with a Range request: the same model, the shard read once in all', async () => {
    const rt = await testRuntime();
    const server = await startModelServer();
    try {
      server.addDir('gqa', 'test/fixtures/llama/gqa');
      server.faults = [{ path: 'gqa/model.safetensors', dropAfter: 50_000, times: 2 }];
      const seen: number[] = [];
      const model = await LlamaModel.load(rt, urlSource(`${server.url}/gqa`), { onProgress: (p) => p.phase === 'download' && seen.push(p.loaded) });
      const shard = server.log.filter((r) => r.path === 'gqa/model.safetensors');
      expect(shard.map((r) => [r.status, r.range])).toEqual([[200, null], [206, 'bytes=50000-'], [206, 'bytes=100000-']]);
      expect(seen.every((v, i) => i === 0 || v >= seen[i - 1])).toBe(true);
      const reference = await LlamaModel.load(rt, await fixtureSource('gqa'));
      expect(await logits(model, [3, 4, 5])).toEqual(await logits(reference, [3, 4, 5]));
      model.dispose();
      reference.dispose();

      // Resumes that bring nothing, past the retries: a SourceError naming the URL and the bytes.
      server.faults = [{ path: 'gqa/model.safetensors', dropAfter: 1000 }, { path: 'gqa/model.safetensors', dropAfter: 0, times: 5 }];
      await expect(LlamaModel.load(rt, urlSource(`${server.url}/gqa`, {}, { retries: 2 }))).rejects.toThrow(/model\.safetensors: the download broke off after 1000 of \d+ bytes.*2 resumes failed/);
    } finally {
      await server.close();
    }
  });
});
