import * as Comlink from 'comlink';
import { expect, it } from 'vitest';
import { relativeError } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { matmulRef } from '../matmul/matmul.ref';
import type { MatmulWorker } from './matmul.worker';

it('runs a matmul kernel inside a dedicated Web Worker', async () => {
  const worker = new Worker(new URL('./matmul.worker.ts', import.meta.url), { type: 'module' });
  const api = Comlink.wrap<MatmulWorker>(worker);
  const [M, N, K] = [37, 29, 52];
  const rng = new Rng(42);
  const a = rng.normals(M * K);
  const b = rng.normals(N * K);
  const { result, isWorker } = await api.matmulABt(a, b, M, N, K);
  worker.terminate();
  expect(isWorker).toBe(true);
  expect(relativeError(result, matmulRef({ a, b, batch: 1, M, N, K, transB: true }))).toBeLessThan(1e-5);
});

it('createFinetuner takes a Worker the app made from the worker entry (bundlers other than Vite)', async () => {
  const { createFinetuner } = await import('../../src');
  const worker = new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });
  const ft = await createFinetuner({ worker, database: `qlora-web-app-worker-${Date.now()}` });
  expect(ft.inWorker).toBe(true);
  expect(await ft.listCached()).toEqual([]);
  await ft.dispose();
});
