// Bind groups and uniform buffers, cached across steps. Creating a bind group costs tens of µs through
// Dawn's bindings, and a decode step makes ~300 of them: in steady state the same kernel sees the same
// buffers and the same uniform values every step, so both are looked up instead of created.
// Uniform buffers are keyed by content (a few u32s each). When a cache grows past its cap it is simply
// dropped: nothing is destroyed, so a step still being recorded keeps working, and unreferenced buffers
// and bind groups are released by the garbage collector.
import { BufferUsage } from './flags';
import type { Kernel } from './kernel-cache';
import { byteLength, type Tensor } from './tensor';

const MAX_ENTRIES = 8192;

export class BindGroupCache {
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private uniforms = new Map<string, GPUBuffer>();
  private groups = new Map<string, GPUBindGroup>();

  constructor(private readonly device: GPUDevice) {}

  private id(buffer: GPUBuffer): number {
    let id = this.ids.get(buffer);
    if (id === undefined) this.ids.set(buffer, (id = this.nextId++));
    return id;
  }

  private uniformBuffer(data: ArrayBufferView): GPUBuffer {
    const words = new Uint32Array(data.buffer, data.byteOffset, Math.ceil(data.byteLength / 4));
    const key = words.join(',');
    let buffer = this.uniforms.get(key);
    if (!buffer) {
      if (this.uniforms.size >= MAX_ENTRIES) this.uniforms = new Map();
      buffer = this.device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'uniforms' });
      this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      this.uniforms.set(key, buffer);
    }
    return buffer;
  }

  /** The bind group of `kernel` with uniforms at binding 0 and `tensors` at 1..n (sizes already checked). */
  get(kernel: Kernel, uniforms: ArrayBufferView | null, tensors: readonly Tensor[]): GPUBindGroup {
    const uniformBuffer = uniforms ? this.uniformBuffer(uniforms) : null;
    let key = `${kernel.key}|${uniformBuffer ? this.id(uniformBuffer) : 0}`;
    for (const t of tensors) key += `|${this.id(t.buffer)}:${t.byteOffset}:${byteLength(t)}`;
    let group = this.groups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [];
      if (uniformBuffer) entries.push({ binding: 0, resource: { buffer: uniformBuffer } });
      tensors.forEach((t, i) => entries.push({ binding: i + 1, resource: { buffer: t.buffer, offset: t.byteOffset, size: Math.max(4, byteLength(t)) } }));
      group = this.device.createBindGroup({ layout: kernel.layout, entries });
      if (this.groups.size >= MAX_ENTRIES) this.groups = new Map();
      this.groups.set(key, group);
    }
    return group;
  }
}
