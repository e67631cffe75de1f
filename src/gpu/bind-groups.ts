// Bind groups and uniform buffers, cached across steps. Creating a bind group costs tens of µs through
// Dawn's bindings, and a decode step makes ~250 of them: in steady state the same kernel sees the same
// buffers every step, so they are looked up instead of created.
// Uniforms: each (kernel, tensors) has a slot, its own uniform buffer and bind group. When the uniform values
// change from one step to the next (decode attention's cache length grows every token), the slot's buffer is
// rewritten with queue.writeBuffer — ordered after every step already submitted — instead of a new buffer and
// bind group being made. Only while a step that uses the slot's value is still being recorded (e.g. the same
// kernel on the same tensors twice in one step with different values) does a new value get a buffer of its own,
// cached by content. When a cache grows past its cap it is simply dropped: nothing is destroyed, so a step
// still being recorded keeps working, and unreferenced buffers and bind groups are released by the garbage
// collector.
import { BufferUsage } from './flags';
import type { Kernel } from './kernel-cache';
import { byteLength, type Tensor } from './tensor';

const MAX_ENTRIES = 8192;

/** What the cache needs of a step: whether it has been submitted. */
export interface StepState {
  readonly isSubmitted: boolean;
}

interface Slot {
  buffer: GPUBuffer;
  group: GPUBindGroup;
  content: Uint32Array;
  /** The steps that used the current value and were not yet submitted when they did (steps can be recorded side
   *  by side): it may be rewritten once all of them are submitted. */
  steps: StepState[];
}

export class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private uniforms = new Map<string, GPUBuffer>();
  private groups = new Map<string, GPUBindGroup>();
  private slots = new Map<string, Slot>();

  constructor(private readonly device: GPUDevice) {}

  /** A small number per buffer or kernel: keys stay short (long keys measured several µs per dispatch). */
  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  private createUniform(data: ArrayBufferView): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'uniforms' });
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  private createGroup(kernel: Kernel, uniformBuffer: GPUBuffer | null, tensors: readonly Tensor[]): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [];
    if (uniformBuffer) entries.push({ binding: 0, resource: { buffer: uniformBuffer } });
    tensors.forEach((t, i) => entries.push({ binding: i + 1, resource: { buffer: t.buffer, offset: t.byteOffset, size: Math.max(4, byteLength(t)) } }));
    return this.device.createBindGroup({ layout: kernel.layout, entries });
  }

  /** The bind group of `kernel` with uniforms at binding 0 and `tensors` at 1..n (sizes already checked), for a
   *  dispatch recorded into `step`. */
  get(kernel: Kernel, uniforms: ArrayBufferView | null, tensors: readonly Tensor[], step: StepState): GPUBindGroup {
    let key = `${this.id(kernel)}`;
    for (const t of tensors) key += `|${this.id(t.buffer)}:${t.byteOffset}:${byteLength(t)}`;
    if (!uniforms) return this.cached(this.groups, key, () => this.createGroup(kernel, null, tensors));
    const words = new Uint32Array(uniforms.buffer, uniforms.byteOffset, Math.ceil(uniforms.byteLength / 4));
    const slot = this.slots.get(key);
    if (slot && sameWords(slot.content, words)) {
      if (slot.steps[slot.steps.length - 1] !== step) {
        slot.steps = slot.steps.filter((s) => !s.isSubmitted && s !== step);
        slot.steps.push(step);
      }
      return slot.group;
    }
    if (slot) slot.steps = slot.steps.filter((s) => !s.isSubmitted);
    if (slot && slot.steps.length === 0) {
      this.device.queue.writeBuffer(slot.buffer, 0, uniforms.buffer, uniforms.byteOffset, uniforms.byteLength);
      slot.content = words.slice();
      slot.steps.push(step);
      return slot.group;
    }
    if (!slot) {
      const buffer = this.createUniform(uniforms);
      const group = this.createGroup(kernel, buffer, tensors);
      if (this.slots.size >= MAX_ENTRIES) this.slots = new Map();
      this.slots.set(key, { buffer, group, content: words.slice(), steps: [step] });
      return group;
    }
    // The slot's value is still needed by a step being recorded: this value gets a buffer of its own.
    const buffer = this.cached(this.uniforms, words.join(','), () => this.createUniform(uniforms));
    return this.cached(this.groups, `${key}|u${this.id(buffer)}`, () => this.createGroup(kernel, buffer, tensors));
  }

  private cached<T>(map: Map<string, T>, key: string, create: () => T): T {
    let value = map.get(key);
    if (value === undefined) {
      value = create();
      if (map.size >= MAX_ENTRIES) map.clear();
      map.set(key, value);
    }
    return value;
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
