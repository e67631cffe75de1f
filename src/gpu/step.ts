// A Step records every dispatch of one unit of work (a forward pass, a training step) into a single
// command encoder and submits it once: launches are cheap, submits are not.
// Each dispatch binds its uniforms at @binding(0) (a slot in a per-step uniform arena) and its
// tensors at @binding(1..n) in the order given.
import { LimitError } from './errors';
import { BufferUsage, MapMode } from './flags';
import type { Kernel } from './kernel-cache';
import type { Runtime } from './runtime';
import { byteLength, type Tensor } from './tensor';

const ARENA_BYTES = 64 * 1024;

export interface DispatchTiming {
  label: string;
  /** GPU time of the dispatch in nanoseconds. */
  ns: number;
}

export class Step {
  private readonly encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  private arenas: { buffer: GPUBuffer; bytes: Uint8Array<ArrayBuffer>; used: number }[] = [];
  private readonly uniformAlign: number;
  private readonly profiled: string[] = [];
  private querySet: GPUQuerySet | null = null;
  private timingsPromise: Promise<DispatchTiming[]> | null = null;
  private submitted = false;

  /** `profile` times every dispatch with timestamp queries (one pass each); needs 'timestamp-query'. */
  constructor(
    private readonly rt: Runtime,
    private readonly profile = false,
    private readonly maxProfiled = 1024,
  ) {
    this.encoder = rt.device.createCommandEncoder();
    this.uniformAlign = rt.device.limits.minUniformBufferOffsetAlignment;
    if (profile) {
      this.querySet = rt.device.createQuerySet({ type: 'timestamp', count: 2 * maxProfiled });
    }
  }

  /** Records one dispatch. `uniforms` are the kernel's Params struct bytes (binding 0). */
  dispatch(
    kernel: Kernel,
    uniforms: ArrayBufferView | null,
    tensors: readonly Tensor[],
    workgroups: readonly [number, number?, number?],
    label = kernel.key,
  ): void {
    this.assertOpen();
    const entries: GPUBindGroupEntry[] = [];
    if (uniforms) entries.push({ binding: 0, resource: this.uniformSlot(uniforms) });
    const maxBinding = this.rt.device.limits.maxStorageBufferBindingSize;
    tensors.forEach((t, i) => {
      const size = Math.max(4, byteLength(t));
      if (size > maxBinding) throw new LimitError('maxStorageBufferBindingSize', size, maxBinding, `tensor '${t.label}' in ${label}`);
      entries.push({ binding: i + 1, resource: { buffer: t.buffer, offset: t.byteOffset, size } });
    });
    const bindGroup = this.rt.device.createBindGroup({ layout: kernel.layout, entries });
    const maxGroups = this.rt.device.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    for (const n of [x, y, z]) {
      if (n > maxGroups) throw new LimitError('maxComputeWorkgroupsPerDimension', n, maxGroups, label);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pass = this.beginPass(label);
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profile) this.endPass();
  }

  /** Copies `bytes` (default: all of src) between tensors. */
  copy(src: Tensor, dst: Tensor, bytes = byteLength(src)): void {
    this.assertOpen();
    this.endPass();
    this.encoder.copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, bytes);
  }

  /** Ends recording and submits. Validation errors surface at the runtime's next sync()/read(). */
  submit(): void {
    this.assertOpen();
    this.endPass();
    let resolveBuffer: GPUBuffer | null = null;
    let readBuffer: GPUBuffer | null = null;
    if (this.querySet && this.profiled.length) {
      const bytes = this.profiled.length * 16;
      resolveBuffer = this.rt.device.createBuffer({ size: bytes, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
      readBuffer = this.rt.device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
      this.encoder.resolveQuerySet(this.querySet, 0, this.profiled.length * 2, resolveBuffer, 0);
      this.encoder.copyBufferToBuffer(resolveBuffer, 0, readBuffer, 0, bytes);
    }
    for (const arena of this.arenas) {
      this.rt.device.queue.writeBuffer(arena.buffer, 0, arena.bytes, 0, arena.used);
    }
    this.rt.submitChecked(this.encoder.finish());
    for (const arena of this.arenas) this.rt.pool.release(arena.buffer);
    this.arenas = [];
    this.submitted = true;
    if (readBuffer) {
      const labels = this.profiled.slice();
      const qs = this.querySet!;
      const rb = readBuffer;
      const resolve = resolveBuffer!;
      this.timingsPromise = rb.mapAsync(MapMode.READ).then(() => {
        const t = new BigUint64Array(rb.getMappedRange().slice(0));
        rb.destroy();
        resolve.destroy();
        qs.destroy();
        return labels.map((label, i) => ({ label, ns: Number(t[2 * i + 1] - t[2 * i]) }));
      });
    } else {
      this.querySet?.destroy();
    }
  }

  /** Per-dispatch GPU times of a profiled step, after submit(). */
  timings(): Promise<DispatchTiming[]> {
    if (!this.profile) throw new Error('timings() needs a step created with { profile: true }');
    if (!this.submitted) throw new Error('timings() is available after submit()');
    return this.timingsPromise ?? Promise.resolve([]);
  }

  private uniformSlot(data: ArrayBufferView): GPUBufferBinding {
    const size = Math.ceil(data.byteLength / 16) * 16;
    let arena = this.arenas[this.arenas.length - 1];
    if (!arena || arena.used + size > ARENA_BYTES) {
      arena = {
        buffer: this.rt.pool.acquire(ARENA_BYTES, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'uniform-arena'),
        bytes: new Uint8Array(ARENA_BYTES),
        used: 0,
      };
      this.arenas.push(arena);
    }
    const offset = arena.used;
    arena.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    arena.used = Math.ceil((offset + size) / this.uniformAlign) * this.uniformAlign;
    return { buffer: arena.buffer, offset, size };
  }

  private beginPass(label: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    if (this.querySet) {
      const i = this.profiled.length;
      if (i >= this.maxProfiled) throw new Error(`a profiled step holds at most ${this.maxProfiled} dispatches`);
      this.profiled.push(label);
      this.pass = this.encoder.beginComputePass({
        timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
    } else {
      this.pass = this.encoder.beginComputePass();
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private assertOpen(): void {
    if (this.submitted) throw new Error('this Step was already submitted; start a new one with runtime.step()');
    this.rt.assertAlive();
  }
}
