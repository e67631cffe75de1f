// The kernel suites `npm run bench` runs in a page and again in a dedicated worker (the same code, the same
// Runtime): the on-device self-check, the runtime suite (copy, f32 matmul, launch overhead), the quantized kernels
// (decode GEMV, GEMM forward and backward, quantization) and the onnxruntime-web MatMulNBits peer.
import { Runtime } from '../src/gpu';
import type { BenchResult } from './harness';
import { formatPeerRow, type Ort, peerCases, runMatMulNBitsPeer, type PeerRow } from './peers/matmulnbits-peer';
import { runQuantSuite } from './quant-suite';
import { selfCheck } from './selfcheck';
import { formatRow, runSuite } from './suite';

export interface KernelReport {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  checks: { name: string; relativeError: number; pass: boolean }[];
  results: BenchResult[];
  peers: PeerRow[];
  ortVersion: string | null;
}

/** onnxruntime-web's WebGPU build, its wasm fetched from `wasmBase` (the bench server serves the package's dist/ at
 *  /ort/); null with the reason when it will not load. */
export async function loadOrt(wasmBase = `${location.origin}/ort/`): Promise<{ ort: Ort | null; why: string }> {
  try {
    const ort = await import('onnxruntime-web/webgpu');
    (ort.env.wasm as { wasmPaths?: unknown }).wasmPaths = wasmBase;
    return { ort: ort as unknown as Ort, why: '' };
  } catch (e) {
    return { ort: null, why: `onnxruntime-web did not load: ${(e as Error).message}` };
  }
}

/** The suites; `peersOnly` runs the peer rows alone (a quick check of onnxruntime-web). */
export async function runKernelSuites(log: (line: string) => void, peersOnly = false): Promise<KernelReport> {
  const rt = await Runtime.create();
  try {
    const info = rt.adapterInfo;
    log(`adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description}`);
    const checks = peersOnly ? [] : await selfCheck(rt);
    log(`self-check: ${checks.filter((c) => c.pass).length}/${checks.length} kernel variants match the reference`);
    const scale = rt.isCpuAdapter ? 'cpu' : 'gpu';
    const results = peersOnly ? [] : await runSuite(rt, scale, (r) => log(formatRow(r)));
    const copy = results.find((r) => r.name.startsWith('copy'));
    if (!peersOnly) results.push(...(await runQuantSuite(rt, scale, copy ? copy.value : null, (r) => log(formatRow(r)))));
    const { ort, why } = await loadOrt();
    const peers = await runMatMulNBitsPeer(rt, ort, peerCases(!rt.isCpuAdapter), (r) => log(formatPeerRow(r)), why);
    return { adapter: { ...info }, checks, results, peers, ortVersion: ort?.env.versions?.web ?? null };
  } finally {
    rt.dispose();
  }
}
