// onnxruntime-web's WebGPU build in Node (the GPU machine has no browser): Dawn from the `webgpu` package as
// navigator.gpu, the bundle and its wasm (or wasm.gz) read from `dir` (scripts/bench-gpu.sh puts them in .device/ort).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Ort } from './matmulnbits-peer';

/** Dawn's GPU for ORT alone, its devices' queue.writeBuffer taking a copy of the bytes: ORT's emscripten bindings
 *  pass (buffer, offset, heap view, dataOffset, size), which the `webgpu` package refuses ("Invalid argument"). */
function ortGpu(gpu: GPU): GPU {
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options) => {
    const adapter = await requestAdapter(options);
    if (!adapter) return adapter;
    const requestDevice = adapter.requestDevice.bind(adapter);
    adapter.requestDevice = async (descriptor) => {
      const device = await requestDevice(descriptor);
      const queue = device.queue;
      const write = queue.writeBuffer.bind(queue);
      queue.writeBuffer = (buffer: GPUBuffer, offset: number, data: BufferSource, dataOffset = 0, size?: number) => {
        const view = ArrayBuffer.isView(data) ? data : new Uint8Array(data);
        const bytes = new Uint8Array(view.buffer, view.byteOffset + dataOffset, size ?? view.byteLength - dataOffset);
        write(buffer, Number(offset), bytes.slice());
      };
      return device;
    };
    return adapter;
  };
  return gpu;
}

export async function loadOrtNode(dir: string, dawnFlags: string[]): Promise<{ ort: Ort | null; why: string }> {
  try {
    const g = globalThis as { navigator?: { gpu?: GPU } };
    if (!g.navigator?.gpu) {
      const moduleName = 'webgpu';
      const dawn = (await import(/* @vite-ignore */ moduleName)) as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
      Object.assign(globalThis, dawn.globals);
      Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu: ortGpu(dawn.create(dawnFlags)) }, configurable: true, writable: true });
    }
    const ort = (await import(/* @vite-ignore */ pathToFileURL(join(dir, 'ort.webgpu.bundle.min.mjs')).href)) as Ort & { env: { wasm: { wasmBinary?: Uint8Array } } };
    const wasm = join(dir, 'ort-wasm-simd-threaded.asyncify.wasm');
    // Gzipped: less to copy to the GPU machine (29 MB raw, 7 MB gzipped).
    ort.env.wasm.wasmBinary = existsSync(wasm) ? readFileSync(wasm) : gunzipSync(readFileSync(`${wasm}.gz`));
    return { ort, why: '' };
  } catch (e) {
    return { ort: null, why: `onnxruntime-web did not load in Node: ${(e as Error).message}` };
  }
}
