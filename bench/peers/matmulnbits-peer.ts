// Our int4 G64 dequant matmul beside onnxruntime-web's 4-bit MatMulNBits (WebGPU execution provider) on the same
// adapter, shapes and run. ORT's WebGPU EP makes its own GPUDevice on the same adapter (handed ours, version 1.31.1
// will not bind a GPU-buffer input: "no data transfer registered"), and A lives in a buffer of that device, so
// neither side pays an upload per launch.
// Both sides are timed the same way, by wall clock: one launch per submission (ORT: one session.run of a one-node
// model; ours: one quantMatmul in its own step), `iters` back to back, then the queue drained; median of `reps`.
// That includes each side's per-launch CPU cost, which is what a caller pays for one op. The peer's output is checked
// against A·Ŵᵀ of its own dequantized weights before it is timed, so a wrong kernel is never a fast one.
import type { Runtime } from '../../src/gpu';
import { freeQuantized } from '../../src/quant';
import { quantMatmul } from '../../src/matmul';
import { seededUniforms } from '../harness';
import { randomWeight } from '../quant-suite';
import { dequantizeMatMulNBits, fromHalf, matMulNBitsModel, randomMatMulNBitsWeights, toHalf } from './onnx-matmulnbits';

/** The part of onnxruntime-web this bench uses (the module is passed in: the page, the worker and Node load it
 *  their own ways). */
export interface Ort {
  env: { wasm: { numThreads?: number; wasmPaths?: unknown }; webgpu: { device?: unknown }; versions?: { web?: string } };
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
  Tensor: { fromGpuBuffer(buffer: GPUBuffer, options: { dataType: 'float32' | 'float16'; dims: number[] }): unknown };
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { getData(): Promise<unknown>; dispose(): void }>>;
  release(): Promise<void>;
}

export interface PeerRow {
  what: string;
  shape: string;
  /** Median wall seconds per launch: ours, and the peer's (null when it could not run, `note` says why). */
  ours: number;
  peer: number | null;
  /** peer / ours: above 1, ours is faster. */
  ratio: number | null;
  /** The peer's largest error against its own dequantized weights, relative to the largest |Y|. */
  peerError: number | null;
  note?: string;
}

const BLOCK = 64;

async function wallPerLaunch(launch: () => Promise<void>, drain: () => Promise<void>, iters: number, reps: number): Promise<number> {
  for (let i = 0; i < 3; i++) await launch();
  await drain();
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await launch();
    await drain();
    samples.push((performance.now() - t0) / 1e3 / iters);
  }
  return samples.sort((a, b) => a - b)[reps >> 1];
}

async function ours(rt: Runtime, M: number, N: number, K: number, iters: number, reps: number): Promise<number> {
  const w = randomWeight(rt, N, K, { codebook: 'int', bits: 4, groupSize: BLOCK }, 11);
  const x = rt.upload(seededUniforms(M * K, 12), [M, K], 'x');
  const y = rt.tensor([M, N], 'f32', 'y');
  const t = await wallPerLaunch(async () => {
    const step = rt.step();
    await quantMatmul(rt, step, x, w, y);
    step.submit();
  }, () => rt.sync(), iters, reps);
  freeQuantized(rt, w);
  rt.free(x, y);
  return t;
}

/** The peer's launch: f32 activations as ours, or f16 (`half`) as ORT runs LLMs on WebGPU. */
async function peer(ort: Ort, M: number, N: number, K: number, iters: number, reps: number, half: boolean): Promise<{ seconds: number; error: number }> {
  const w = randomMatMulNBitsWeights(N, K, BLOCK, 21);
  if (half) w.scales = Float32Array.from(w.scales, (v) => fromHalf(toHalf(v)));
  const session = await ort.InferenceSession.create(matMulNBitsModel(M, N, K, BLOCK, w, half), {
    executionProviders: ['webgpu'], preferredOutputLocation: 'gpu-buffer', graphOptimizationLevel: 'disabled',
  });
  const device = (await ort.env.webgpu.device) as GPUDevice | undefined;
  if (!device) throw new Error('onnxruntime-web made no WebGPU device');
  let a = seededUniforms(M * K, 22);
  if (half) a = Float32Array.from(a, (v) => fromHalf(toHalf(v)));
  const bytes = half ? new Uint16Array(Array.from(a, toHalf)) : a;
  const buffer = device.createBuffer({ size: Math.ceil(bytes.byteLength / 4) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  device.queue.writeBuffer(buffer, 0, bytes as Uint16Array<ArrayBuffer>);
  const feeds = { A: ort.Tensor.fromGpuBuffer(buffer, { dataType: half ? 'float16' : 'float32', dims: [M, K] }) };
  try {
    // Check rows 0 and M − 1 against A·Ŵᵀ in float64 (of the f16-rounded A and scales when half).
    const out = await session.run(feeds);
    const raw = (await out.Y.getData()) as ArrayLike<number>;
    const y = half ? Float32Array.from(raw instanceof Uint16Array ? Array.from(raw, fromHalf) : Array.from(raw)) : (raw as Float32Array);
    out.Y.dispose();
    const wd = dequantizeMatMulNBits(w, N, K, BLOCK);
    let err = 0;
    let scale = 0;
    for (const m of new Set([0, M - 1])) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[m * K + k] * wd[n * K + k];
        err = Math.max(err, Math.abs(y[m * N + n] - s));
        scale = Math.max(scale, Math.abs(s));
      }
    }
    const seconds = await wallPerLaunch(async () => {
      const o = await session.run(feeds);
      o.Y.dispose();
    }, () => device.queue.onSubmittedWorkDone(), iters, reps);
    return { seconds, error: err / (scale || 1) };
  } finally {
    buffer.destroy();
    await session.release();
  }
}

/** The peer's shapes: our suite's decode and GEMM shapes at this adapter's scale. */
export function peerCases(gpu: boolean): { M: number; N: number; K: number }[] {
  const shapes: [number, number][] = gpu ? [[4096, 4096], [11008, 4096], [4096, 11008]] : [[256, 256], [768, 256]];
  return [1, gpu ? 512 : 24].flatMap((M) => shapes.map(([N, K]) => ({ M, N, K })));
}

/** The rows: for each (M, N, K), ours and the peer's. `ort` null (not installed, or failed to start) gives our
 *  column alone with the reason. */
export async function runMatMulNBitsPeer(
  rt: Runtime, ort: Ort | null, cases: { M: number; N: number; K: number }[], log: (r: PeerRow) => void, why = 'onnxruntime-web did not load',
): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  const gpu = !rt.isCpuAdapter;
  if (ort) {
    ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed: the page is not cross-origin isolated
  }
  for (const { M, N, K } of cases) {
    const iters = gpu ? 50 : 3;
    const reps = gpu ? 5 : 3;
    const shape = `M=${M} ${N}×${K}`;
    const o = await ours(rt, M, N, K, iters, reps);
    // The peer with f32 activations (as ours), then with f16 ones (ORT's LLM setting; ours stays f32).
    for (const half of [false, true]) {
      const what = `${M === 1 ? 'GEMV' : 'GEMM'} int4 G${BLOCK} X·Ŵᵀ${half ? ', peer in f16' : ''}`;
      let row: PeerRow = { what, shape, ours: o, peer: null, ratio: null, peerError: null, note: why };
      if (ort) {
        try {
          const p = await peer(ort, M, N, K, iters, reps, half);
          row = { what, shape, ours: o, peer: p.seconds, ratio: p.seconds / o, peerError: p.error };
          if (p.error > (half ? 1e-2 : 1e-3)) row.note = 'the peer disagrees with its own dequantized weights';
        } catch (e) {
          row.note = `onnxruntime-web: ${(e as Error).message ?? String(e)}`.slice(0, 300);
        }
      }
      rows.push(row);
      log(row);
    }
  }
  return rows;
}

export function formatPeerRow(r: PeerRow): string {
  const us = (s: number | null) => (s === null ? '—' : `${(s * 1e6).toFixed(1)} µs`);
  return `${r.what.padEnd(22)} ${r.shape.padEnd(18)} ours ${us(r.ours).padStart(12)}  onnxruntime-web ${us(r.peer).padStart(12)}` +
    `${r.ratio === null ? '' : `  peer/ours ${r.ratio.toFixed(2)}`}${r.note ? `  (${r.note})` : ''}`;
}
