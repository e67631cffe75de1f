// A Step records every dispatch of one unit of work (a forward pass, a training step) into a single
// command encoder and submits it once: launches are cheap, submits are not.
// Each dispatch binds its uniforms at @binding(0) and its tensors at @binding(1..n) in the order given,
// through the runtime's bind-group cache (src/gpu/bind-groups.ts).
import { LimitError } from './errors';
import { BufferUsage, MapMode } from './flags';
import type { Kernel } from './kernel-cache';
import type { BindGroupCache } from './bind-groups';
import { byteLength, type Tensor } from './tensor';

export interface DispatchTiming {
  label: string;
  /** GPU time of the dispatch in nanoseconds. */
  ns: number;
}

/** Throws a LimitError naming the tensor and `what` when `t` is more bytes than one storage binding holds (`host`'s
 *  bufferLimits). */
export function assertBindable(host: { bufferLimits: { maxStorageBufferBindingSize: number } }, t: Tensor, what: string): void {
  const size = byteLength(t);
  const max = host.bufferLimits.maxStorageBufferBindingSize;
  if (size > max) throw new LimitError('maxStorageBufferBindingSize', size, max, `tensor '${t.label}' in ${what}`);
}

/** What a step needs of the runtime that made it (Runtime is one): an interface here, so step.ts does not import
 *  runtime.ts, which imports it. */
export interface StepHost {
  readonly device: GPUDevice;
  readonly bindGroups: BindGroupCache;
  readonly bufferLimits: { readonly maxStorageBufferBindingSize: number };
  submitChecked(commands: GPUCommandBuffer): void;
  assertAlive(): void;
}

export class Step {
  private readonly encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  private readonly profiled: string[] = [];
  private querySet: GPUQuerySet | null = null;
  private timingsPromise: Promise<DispatchTiming[]> | null = null;
  private submitted = false;
  private commands = 0;
  private readonly afterSubmitCallbacks: (() => void)[] = [];

  get isSubmitted(): boolean {
    return this.submitted;
  }

  /** Dispatches and copies recorded so far. */
  get commandCount(): number {
    return this.commands;
  }

  /** `profile` times every dispatch ('dispatch': one pass each) or every compute pass as recorded ('pass')
   *  with timestamp queries; needs 'timestamp-query'. */
  constructor(
    private readonly rt: StepHost,
    private readonly profile: false | 'dispatch' | 'pass' = false,
    private readonly maxProfiled = 1024,
  ) {
    this.encoder = rt.device.createCommandEncoder();
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
    for (const t of tensors) assertBindable(this.rt, t, label);
    const bindGroup = this.rt.bindGroups.get(kernel, uniforms, tensors, this);
    const maxGroups = this.rt.device.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    for (const n of [x, y, z]) {
      if (n > maxGroups) throw new LimitError('maxComputeWorkgroupsPerDimension', n, maxGroups, label);
    }
    if (x === 0 || y === 0 || z === 0) return;
    this.commands++;
    const pass = this.beginPass(label);
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profile === 'dispatch') this.endPass();
  }

  /** Copies `bytes` (default: all of src) between tensors. */
  copy(src: Tensor, dst: Tensor, bytes = byteLength(src)): void {
    this.assertOpen();
    this.endPass();
    this.commands++;
    this.encoder.copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, bytes);
  }

  /**
   * Writes `data` into `t` in step order, through a staging buffer copied inside the step. rt.write (a queue write)
   * lands before the whole step runs, so a tensor the step's earlier dispatches use as scratch (a buffer back in the
   * pool and taken again) would be overwritten under them; this write happens after them.
   */
  write(t: Tensor, data: Float32Array | Uint32Array | Int32Array): void {
    this.assertOpen();
    const bytes = byteLength(t);
    if (data.byteLength !== bytes) throw new RangeError(`write '${t.label}': ${data.byteLength} bytes for a tensor of ${bytes}`);
    this.endPass();
    this.commands++;
    const staging = this.rt.device.createBuffer({ size: bytes, usage: BufferUsage.COPY_SRC, mappedAtCreation: true, label: `${t.label} staging` });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, bytes));
    staging.unmap();
    this.encoder.copyBufferToBuffer(staging, 0, t.buffer, t.byteOffset, bytes);
    this.afterSubmitCallbacks.push(() => staging.destroy());
  }

  /** Zeroes `t` in step order (on the GPU: no staging buffer, nothing crosses from the CPU). */
  clear(t: Tensor): void {
    this.assertOpen();
    this.endPass();
    this.commands++;
    this.encoder.clearBuffer(t.buffer, t.byteOffset, Math.ceil(byteLength(t) / 4) * 4);
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
    this.rt.submitChecked(this.encoder.finish());
    this.submitted = true;
    for (const callback of this.afterSubmitCallbacks.splice(0)) callback();
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

  /** GPU times of a profiled step (per dispatch, or per pass labelled 'pass'), after submit(). */
  timings(): Promise<DispatchTiming[]> {
    if (!this.profile) throw new Error('timings() needs a step created with { profile: true }');
    if (!this.submitted) throw new Error('timings() is available after submit()');
    return this.timingsPromise ?? Promise.resolve([]);
  }

  private beginPass(label: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    if (this.querySet) {
      const i = this.profiled.length;
      if (i >= this.maxProfiled) throw new Error(`a profiled step holds at most ${this.maxProfiled} timed passes`);
      this.profiled.push(this.profile === 'pass' ? 'pass' : label);
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
