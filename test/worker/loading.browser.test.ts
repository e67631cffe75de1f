// Loading and resuming in real Chromium, against a local server that logs requests and injects faults
// (test/helpers/model-server.ts, started by the project's globalSetup): a cold load then a warm one with no weight
// request (HEADs only); a model changed upstream refetched, the cached copy used offline; a corrupted cache chunk detected and the model fetched again; a connection dropped mid-shard resumed with
// Range; a quota shortfall refused with the bytes needed and nothing cached; a worker killed mid-training (as a page
// reload kills it) and the run resumed by a new one from IndexedDB, on the uninterrupted loss curve; a model from a
// FileSystemDirectoryHandle (the origin-private file system standing in for a picked directory).
import { createStore, get, set } from 'idb-keyval';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { createFinetuner, StorageQuotaError, type Finetuner, type TrainRequest } from '../../src';
import type { LoggedRequest } from '../helpers/model-server';

const server = inject('modelServer');
const MODEL = `${server}/gqa`;
const QUANT = { codebook: 'nf', bits: 4, groupSize: 32, calibrate: 'icq' } as const;
const TEXT = Array.from({ length: 12 }, (_, i) => `Row ${i}: a small model learns a small text, line by line.`).join('\n');
const TRAIN: TrainRequest = { data: { text: TEXT }, rank: 4, alpha: 8, steps: 6, batchSize: 2, seqLen: 24, lr: 2e-2, seed: 1, dropout: 0.1 };

async function control(body: object): Promise<void> {
  await fetch(`${server}/__control`, { method: 'POST', body: JSON.stringify(body) });
}

async function requests(): Promise<LoggedRequest[]> {
  return (await fetch(`${server}/__log`)).json();
}

let n = 0;
const open: Finetuner[] = [];
async function finetuner(database: string, options: { worker?: boolean } = {}): Promise<Finetuner> {
  const ft = await createFinetuner({ database, ...options });
  open.push(ft);
  return ft;
}

afterEach(async () => {
  vi.restoreAllMocks();
  await control({ faults: [], clearLog: true });
  for (const ft of open.splice(0)) await ft.terminate();
});

describe('loading in Chromium', () => {
  it('cold load, then a warm one from IndexedDB with no weight request (HEADs only)', async () => {
    const database = `qlora-web-load-${Date.now()}-${n++}`;
    await control({ clearLog: true });
    const cold = await (await finetuner(database)).load({ model: MODEL, quant: QUANT });
    expect(cold.fromCache).toBe(false);
    expect((await requests()).map((r) => r.path)).toContain('gqa/model.safetensors');
    await control({ clearLog: true });
    const warm = await (await finetuner(database)).load({ model: MODEL, quant: QUANT });
    expect(warm.fromCache).toBe(true);
    // Only HEAD requests for the description files' ETags (has the model changed upstream?): no body, no weights.
    expect((await requests()).map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD gqa/config.json', 'HEAD gqa/tokenizer.json', 'HEAD gqa/tokenizer_config.json']);
  });

  it('a model changed upstream since it was cached is loaded again; offline, the cached copy serves', async () => {
    const database = `qlora-web-upstream-${Date.now()}-${n++}`;
    const ft = await finetuner(database);
    await ft.load({ model: MODEL, quant: QUANT });
    await control({ touch: ['gqa/tokenizer.json'], clearLog: true });
    const messages: string[] = [];
    const again = await ft.load({ model: MODEL, quant: QUANT }, (p) => p.message && messages.push(p.message));
    expect(again.fromCache).toBe(false);
    expect(messages).toEqual([expect.stringMatching(/^tokenizer\.json changed upstream since .* was cached; loading it again$/)]);
    expect((await ft.load({ model: MODEL, quant: QUANT })).fromCache).toBe(true);
    await control({ faults: ['config.json', 'tokenizer.json', 'tokenizer_config.json'].map((f) => ({ path: `gqa/${f}`, status: 503 })) });
    messages.length = 0;
    expect((await ft.load({ model: MODEL, quant: QUANT }, (p) => p.message && messages.push(p.message))).fromCache).toBe(true);
    expect(messages).toEqual([expect.stringMatching(/could not check .* for upstream changes \(.*HTTP 503.*\); using the cached copy/)]);
  });

  it('a corrupted chunk is detected, reported, and the model fetched and cached again', async () => {
    const database = `qlora-web-corrupt-${Date.now()}-${n++}`;
    const ft = await finetuner(database);
    const { key } = await ft.load({ model: MODEL, quant: QUANT });
    const store = createStore(database, 'model-files');
    const manifest = (await get<{ files: Record<string, { chunks: { id: string }[] }> }>(`manifest:${key}`, store))!;
    const id = manifest.files['model.safetensors'].chunks[0].id;
    const bytes = (await get<Uint8Array>(id, store))!.slice();
    bytes[bytes.length >> 1] ^= 0x40;
    await set(id, bytes, store);
    await control({ clearLog: true });
    const messages: string[] = [];
    const again = await ft.load({ model: MODEL, quant: QUANT }, (p) => p.message && messages.push(p.message));
    expect(again.fromCache).toBe(false);
    expect(messages.join('\n')).toMatch(/cached model was broken \(corrupt chunk: model\.safetensors: chunk .* does not match its SHA-256\)/);
    expect((await requests()).filter((r) => r.path === 'gqa/model.safetensors')).toHaveLength(1);
    expect((await ft.load({ model: MODEL, quant: QUANT })).fromCache).toBe(true);
  });

  it('a connection dropped mid-shard is resumed with a Range request', async () => {
    const ft = await finetuner(`qlora-web-drop-${Date.now()}-${n++}`);
    await control({ faults: [{ path: 'gqa/model.safetensors', dropAfter: 70_000 }], clearLog: true });
    const info = await ft.load({ model: MODEL, quant: QUANT, cache: false });
    expect(info.layers).toBe(2);
    const shard = (await requests()).filter((r) => r.path === 'gqa/model.safetensors');
    expect(shard.map((r) => [r.status, r.range])).toEqual([[200, null], [206, 'bytes=70000-']]);
    expect((await ft.generate('Row 1', { maxTokens: 3 })).length).toBeGreaterThan(0);
  });

  it('a quota shortfall: a StorageQuotaError with the bytes needed, and nothing cached', async () => {
    // In-thread, so that the stub reaches the engine's navigator.storage.
    const ft = await finetuner(`qlora-web-quota-${Date.now()}-${n++}`, { worker: false });
    vi.spyOn(navigator.storage, 'estimate').mockResolvedValue({ quota: 50_000, usage: 40_000 });
    const err = await ft.load({ model: MODEL, quant: QUANT }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageQuotaError);
    expect(err.availableBytes).toBe(10_000);
    expect(err.neededBytes).toBeGreaterThan(10_000);
    expect(err.message).toMatch(/caching needs \d+ bytes but the browser offers 10000.*cache: false/);
    expect(await ft.listCached()).toEqual([]);
  });

  it('a worker killed mid-training (a page reload) and the run resumed by a new worker: the same loss curve', async () => {
    const database = `qlora-web-reload-${Date.now()}-${n++}`;
    const first = await finetuner(database);
    await first.load({ model: MODEL, quant: QUANT });
    const whole = await first.train({ ...TRAIN, runId: 'whole', checkpointEvery: 0 });
    let killed!: () => void;
    const atStep3 = new Promise<void>((r) => (killed = r));
    void first.train({ ...TRAIN, runId: 'reload', checkpointEvery: 2 }, (p) => p.phase === 'train' && p.step === 3 && killed()).catch(() => {});
    await atStep3;
    await first.terminate();

    const second = await finetuner(database);
    expect((await second.load({ model: MODEL, quant: QUANT })).fromCache).toBe(true);
    const rest = await second.resume('reload');
    expect(rest.losses[0].step).toBe(3);
    expect(rest.losses).toEqual(whole.losses.filter((l) => l.step >= 3));
  });

  it('loads a model from a FileSystemDirectoryHandle', async () => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle(`gqa-${Date.now()}`, { create: true });
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
      const file = await dir.getFileHandle(name, { create: true });
      const writable = await file.createWritable();
      await writable.write(await (await fetch(`${MODEL}/${name}`)).arrayBuffer());
      await writable.close();
    }
    const ft = await finetuner(`qlora-web-dir-${Date.now()}-${n++}`);
    const info = await ft.load({ model: dir, quant: QUANT });
    expect(info).toMatchObject({ layers: 2, hasTokenizer: true });
    expect(info.key).toMatch(/^local-[0-9a-f]{16}\|/);
    const fromServer = await (await finetuner(`qlora-web-dir2-${Date.now()}-${n++}`)).load({ model: MODEL, quant: QUANT });
    expect(fromServer.key).not.toBe(info.key);
    expect(await ft.generate('Row 2', { maxTokens: 4 })).toBe(await open.at(-1)!.generate('Row 2', { maxTokens: 4 }));
  });
});
