// A dedicated Web Worker that owns its own Runtime and runs a matmul on request (through comlink).
import * as Comlink from 'comlink';
import { Runtime } from '../../src/gpu';
import { matmul } from '../../src/matmul';

const api = {
  async matmulABt(a: Float32Array, b: Float32Array, M: number, N: number, K: number) {
    const rt = await Runtime.create();
    const A = rt.upload(a, [M, K], 'A');
    const B = rt.upload(b, [N, K], 'B');
    const C = rt.tensor([M, N], 'f32', 'C');
    const step = rt.step();
    await matmul(rt, step, A, B, C, { transB: true });
    step.submit();
    const result = (await rt.read(C)) as Float32Array;
    rt.dispose();
    const isWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
    return Comlink.transfer({ result, isWorker }, [result.buffer]);
  },
};

export type MatmulWorker = typeof api;
Comlink.expose(api);
