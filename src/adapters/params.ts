// Trainable parameters in one flat f32 buffer each for values, gradients and the two AdamW moments, so one
// kernel updates them all, one reduction takes the gradient norm, and one readback checkpoints them. Each
// parameter is a view at an offset aligned to the device's minStorageBufferOffsetAlignment; the gaps stay zero.
import type { Runtime, Tensor } from '../gpu';
import { ShapeError } from '../gpu';
import { numel } from '../gpu';

export interface ParamSpec {
  /** PEFT-style name, e.g. 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'. */
  name: string;
  shape: number[];
  /** Initial values (numel(shape) of them). */
  init: Float32Array;
}

interface Entry {
  offset: number; // elements
  shape: number[];
}

export type ParamBuffer = 'params' | 'grads' | 'm' | 'v';

export class ParamStore {
  private readonly entries = new Map<string, Entry>();
  /** Flat [total] tensors. */
  readonly buffers: Record<ParamBuffer, Tensor>;
  /** Elements in each flat buffer, gaps included. */
  readonly total: number;
  /** Trainable values, gaps excluded. */
  readonly count: number;

  constructor(private readonly rt: Runtime, specs: readonly ParamSpec[]) {
    const align = rt.device.limits.minStorageBufferOffsetAlignment / 4;
    let offset = 0;
    let count = 0;
    for (const s of specs) {
      if (this.entries.has(s.name)) throw new ShapeError(`parameter '${s.name}' is declared twice`);
      if (s.init.length !== numel(s.shape)) throw new ShapeError(`parameter '${s.name}': ${s.init.length} initial values for shape [${s.shape}]`);
      this.entries.set(s.name, { offset, shape: [...s.shape] });
      offset += Math.ceil(numel(s.shape) / align) * align;
      count += numel(s.shape);
    }
    this.total = Math.max(offset, align);
    this.count = count;
    const values = new Float32Array(this.total);
    for (const s of specs) values.set(s.init, this.entries.get(s.name)!.offset);
    const zeros = new Float32Array(this.total);
    const made: Tensor[] = [];
    try {
      const make = (data: Float32Array, label: string) => {
        const t = rt.upload(data, [this.total], label);
        made.push(t);
        return t;
      };
      this.buffers = { params: make(values, 'adapter params'), grads: make(zeros, 'adapter grads'), m: make(zeros, 'adam m'), v: make(zeros, 'adam v') };
    } catch (e) {
      rt.free(...made);
      throw e;
    }
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): readonly number[] {
    return this.entry(name).shape;
  }

  /** The parameter's view into one of the flat buffers. */
  view(buffer: ParamBuffer, name: string): Tensor {
    const e = this.entry(name);
    const flat = this.buffers[buffer];
    return { ...flat, shape: e.shape, byteOffset: flat.byteOffset + e.offset * 4, label: `${name} (${buffer})` };
  }

  /** Every parameter's values (or gradients, moments) read back, by name. */
  async read(buffer: ParamBuffer = 'params'): Promise<Map<string, Float32Array>> {
    const flat = (await this.rt.read(this.buffers[buffer])) as Float32Array;
    const out = new Map<string, Float32Array>();
    for (const [name, e] of this.entries) out.set(name, flat.slice(e.offset, e.offset + numel(e.shape)));
    return out;
  }

  /** The name of the parameter that holds flat element `index` (for errors that point at one). */
  nameAt(index: number): string | null {
    for (const [name, e] of this.entries) if (index >= e.offset && index < e.offset + numel(e.shape)) return name;
    return null;
  }

  /** Overwrites one parameter's values (or its moments); resets nothing else. */
  write(name: string, data: Float32Array, buffer: ParamBuffer = 'params'): void {
    const e = this.entry(name);
    if (data.length !== numel(e.shape)) throw new ShapeError(`parameter '${name}': ${data.length} values for shape [${e.shape}]`);
    this.rt.write(this.view(buffer, name), data);
  }

  /** Zeroes the gradients and both moments (a fresh optimizer). */
  resetOptimizer(): void {
    const zeros = new Float32Array(this.total);
    for (const b of ['grads', 'm', 'v'] as const) this.rt.write(this.buffers[b], zeros);
  }

  dispose(): void {
    this.rt.free(...Object.values(this.buffers));
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new ShapeError(`no parameter '${name}'`);
    return e;
  }
}
