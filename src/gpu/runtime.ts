// The Runtime ties a device to its buffer pool, pipeline cache and error/loss tracking.
// Ops take a Runtime and Tensors; nothing above src/ops touches GPUDevice directly.
import { BindGroupCache } from './bind-groups';
import { BufferPool } from './buffer-pool';
import { BufferUsage, MapMode } from './flags';
import { MATRIX_FEATURES, matmulPathFor, PRECISIONS, settleMatmulPath, type MatmulPath, type Precision, type SubgroupMatrixConfig } from './capabilities';
import { acquireDevice, type AcquiredDevice, type DeviceOptions } from './device';
import { DeviceLostError, MissingFeatureError, ShaderError } from './errors';
import { KernelCache, type Kernel, type KernelSpec } from './kernel-cache';
import { Step } from './step';
import { BYTES_PER_ELEMENT, byteLength, checkShape, numel, type DType, type Tensor } from './tensor';

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const TIMESTAMP: GPUFeatureName = 'timestamp-query';

type TypedArray = Float32Array | Uint32Array | Int32Array;
const ARRAY_OF: Record<DType, new (b: ArrayBuffer) => TypedArray> = {
  f32: Float32Array,
  u32: Uint32Array,
  i32: Int32Array,
};

function dtypeOf(data: TypedArray): DType {
  return data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32' : 'i32';
}

export interface RuntimeOptions extends DeviceOptions {
  /** Called once if the device is lost; every later call on the runtime throws DeviceLostError. */
  onDeviceLost?: (error: DeviceLostError) => void;
  /** The quantized GEMMs' arithmetic (Precision): default 'auto', the f16 matrix units where offered. */
  precision?: Precision;
  /** Told when the runtime takes another path than the one it was given or first chose (a matrix kernel failed
   *  its self-check); default console.warn. */
  onWarning?: (message: string) => void;
  /** Buffer limits the runtime holds itself to, below the device's where lower (for instance a browser page's
   *  defaults, 128 MiB per binding and 256 MiB per buffer): a model then loads, trains and generates with what
   *  exceeds them split into row blocks. Default: the device's own. */
  bufferLimits?: Partial<BufferLimits>;
}

/** The two limits that decide how weights are split into row blocks (Runtime.bufferLimits). */
export interface BufferLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** The most bytes one buffer may hold here that is also bound whole: the lower of the runtime's two limits. */
export function bufferLimit(rt: { readonly bufferLimits: Readonly<BufferLimits> }): number {
  return Math.min(rt.bufferLimits.maxStorageBufferBindingSize, rt.bufferLimits.maxBufferSize);
}

/** What the device offers and which paths the runtime took (shown by benchmarks and the demo). */
export interface Capabilities {
  shaderF16: boolean;
  subgroups: boolean;
  subgroupMatrix: boolean;
  subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
  subgroupSizes: readonly [min: number, max: number];
  /** The quantized GEMMs' path (M > 8 rows; decode GEMVs and every other op stay f32). */
  matmul: MatmulPath;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly bindGroups: BindGroupCache;
  readonly features: ReadonlySet<string>;
  readonly adapterInfo: AcquiredDevice['adapterInfo'];
  /** A CPU implementation of WebGPU (SwiftShader, llvmpipe): kernels there prefer fewer, longer invocations. */
  readonly isCpuAdapter: boolean;
  /** Resolves when the device is lost (also after dispose()). */
  readonly lost: Promise<DeviceLostError>;
  private readonly kernels: KernelCache;
  private readonly constants = new Map<string, Tensor>();
  private lostError: DeviceLostError | null = null;
  private path: MatmulPath;
  private readonly warn: (message: string) => void;
  private pendingChecks: Promise<GPUError | null>[] = [];
  private disposed = false;

  /** The buffer limits in force: the device's, or RuntimeOptions.bufferLimits where lower. */
  readonly bufferLimits: Readonly<BufferLimits>;

  private constructor(acquired: AcquiredDevice, options: RuntimeOptions, path: MatmulPath) {
    this.path = path;
    const cap = options.bufferLimits ?? {};
    const limit = (name: keyof BufferLimits) => Math.min(acquired.limits[name], cap[name] ?? Infinity);
    this.bufferLimits = Object.freeze({ maxStorageBufferBindingSize: limit('maxStorageBufferBindingSize'), maxBufferSize: limit('maxBufferSize') });
    this.warn = options.onWarning ?? ((message) => console.warn(message));
    this.device = acquired.device;
    this.features = acquired.features;
    this.adapterInfo = acquired.adapterInfo;
    const info = acquired.adapterInfo;
    this.isCpuAdapter = /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
    this.pool = new BufferPool(this.device, this.bufferLimits.maxBufferSize);
    this.bindGroups = new BindGroupCache(this.device);
    this.kernels = new KernelCache(this.device);
    this.lost = acquired.lost.then((error) => {
      this.lostError = error;
      if (!this.disposed) options.onDeviceLost?.(error);
      return error;
    });
  }

  /** The loss, once the device is lost (or the runtime disposed); null while it is alive. */
  get deviceLost(): DeviceLostError | null {
    return this.lostError;
  }

  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    const precision = options.precision ?? 'auto';
    if (!PRECISIONS.includes(precision)) throw new RangeError(`precision must be one of ${PRECISIONS.join(', ')}, got ${String(precision)}`);
    const matrix = precision === 'f32' ? [] : (MATRIX_FEATURES as readonly string[] as GPUFeatureName[]);
    const optionalFeatures = options.optionalFeatures ?? [TIMESTAMP, 'subgroups' as GPUFeatureName, ...matrix];
    const acquired = await acquireDevice({ ...options, optionalFeatures });
    const info = acquired.adapterInfo;
    const path = matmulPathFor({
      features: acquired.features, configs: info.subgroupMatrixConfigs, subgroupMaxSize: info.subgroupMaxSize,
      maxInvocations: acquired.limits.maxComputeInvocationsPerWorkgroup,
    }, precision);
    if ('missing' in path) {
      acquired.device.destroy();
      throw new MissingFeatureError(path.missing, `precision 'f16': ${path.detail}`);
    }
    return new Runtime(acquired, options, path);
  }

  /** The quantized GEMMs' path as it stands (read on every matmul's recording, so not a copy; capabilities.matmul is
   *  one). */
  get matmulPath(): Readonly<MatmulPath> {
    return this.path;
  }

  /** What the device offers and the paths taken. */
  get capabilities(): Capabilities {
    const has = (f: string) => this.features.has(f);
    return {
      shaderF16: has('shader-f16'), subgroups: has('subgroups'), subgroupMatrix: has('chromium-experimental-subgroup-matrix'),
      subgroupMatrixConfigs: this.adapterInfo.subgroupMatrixConfigs,
      subgroupSizes: [this.adapterInfo.subgroupMinSize, this.adapterInfo.subgroupMaxSize],
      matmul: { ...this.path },
    };
  }

  /** The matmul layer's verdict on one kernel of the matrix path after its self-check: the path stays (checked), or
   *  is f32 from now on with `why` told to onWarning. */
  settleMatmulPath(passed: boolean, why: string): void {
    const { path, warning } = settleMatmulPath(this.path, passed, why);
    this.path = path;
    if (warning) this.warn(warning);
  }

  /**
   * Invocations that share one output row in a GEMV. 32 on GPUs (BENCHMARKS.md); 1 on CPU adapters, where
   * workgroup barriers are expensive (SwiftShader: 56 ms vs 639 ms per micro-llama decode step).
   */
  get gemvLanes(): 1 | 32 {
    return this.isCpuAdapter ? 1 : 32;
  }

  /** The smallest subgroup the device may run a kernel with, when the 'subgroups' feature is on (else 0).
   *  Kernels that reduce across LANES invocations with subgroup shuffles need LANES ≤ this. */
  get subgroupMinSize(): number {
    return this.features.has('subgroups') ? this.adapterInfo.subgroupMinSize : 0;
  }

  get canProfile(): boolean {
    return this.features.has(TIMESTAMP);
  }

  kernel(spec: KernelSpec): Promise<Kernel> {
    this.assertAlive();
    return this.kernels.get(spec);
  }

  /** A new tensor from the pool; its contents are undefined until written. */
  tensor(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    this.assertAlive();
    checkShape(shape, label);
    const buffer = this.pool.acquire(Math.max(4, numel(shape) * BYTES_PER_ELEMENT[dtype]), STORAGE_USAGE, label);
    return { buffer, shape: [...shape], dtype, byteOffset: 0, label };
  }

  /** A new tensor holding `data` (its length must equal the shape's element count). */
  upload(data: TypedArray, shape: readonly number[], label = 'tensor'): Tensor {
    const dtype = dtypeOf(data);
    if (data.length !== numel(shape)) {
      throw new RangeError(`upload '${label}': ${data.length} values do not fill shape [${shape.join(', ')}]`);
    }
    const t = this.tensor(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  /**
   * A read-only tensor of constants (level tables, candidate lists), uploaded once per runtime under
   * `key` and kept until dispose(). `make` runs only on the first request for the key.
   */
  constant(key: string, make: () => TypedArray): Tensor {
    let t = this.constants.get(key);
    if (!t) {
      const data = make();
      t = this.privateTensor([data.length], key, data);
      this.constants.set(key, t);
    }
    return t;
  }

  /**
   * A tensor in a buffer of its own, outside the pool, holding `data` from its creation (no queue write); its dtype is
   * `data`'s, or `dtype`. Safe to make while a step is being recorded: a pooled buffer might be scratch that step has
   * released but not yet run, which a queue write would overwrite before the step reads it. destroyPrivate frees it.
   */
  privateTensor(shape: readonly number[], label: string, data?: TypedArray, dtype: DType = 'f32'): Tensor {
    this.assertAlive();
    checkShape(shape, label);
    const kind = data ? dtypeOf(data) : dtype;
    const bytes = numel(shape) * BYTES_PER_ELEMENT[kind];
    if (data && data.byteLength !== bytes) throw new RangeError(`privateTensor '${label}': ${data.length} values do not fill shape [${shape.join(', ')}]`);
    const buffer = this.device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage: STORAGE_USAGE, mappedAtCreation: !!data, label });
    if (data) {
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      buffer.unmap();
    }
    return { buffer, shape: [...shape], dtype: kind, byteOffset: 0, label };
  }

  destroyPrivate(...tensors: Tensor[]): void {
    for (const t of tensors) t.buffer.destroy();
  }

  write(t: Tensor, data: TypedArray): void {
    this.assertAlive();
    if (data.byteLength !== byteLength(t)) {
      throw new RangeError(`write '${t.label}': ${data.byteLength} bytes for a tensor of ${byteLength(t)}`);
    }
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Returns the tensor's buffer to the pool. The tensor must not be used afterwards. */
  free(...tensors: Tensor[]): void {
    for (const t of tensors) this.pool.release(t.buffer);
  }

  /** `profile`: true (or 'dispatch') times every dispatch in a pass of its own; 'pass' times each compute pass
   *  as recorded (back-to-back dispatches, as a forward runs them: a throughput measurement). */
  step(options: { profile?: boolean | 'dispatch' | 'pass' } = {}): Step {
    this.assertAlive();
    if (options.profile && !this.canProfile) {
      throw new Error("profiling needs the 'timestamp-query' feature, which this adapter does not offer");
    }
    return new Step(this, options.profile === true ? 'dispatch' : options.profile || false);
  }

  /** Copies a tensor back to the CPU. Throws any validation error from earlier steps. */
  async read(t: Tensor): Promise<TypedArray> {
    this.assertAlive();
    const bytes = byteLength(t);
    const staging = this.pool.acquire(bytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST, 'readback');
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, Math.ceil(bytes / 4) * 4);
    this.submitChecked(encoder.finish());
    try {
      await Promise.race([staging.mapAsync(MapMode.READ, 0, Math.ceil(bytes / 4) * 4), this.lost.then((e) => Promise.reject(e))]);
      const out = new ARRAY_OF[t.dtype](staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      await this.throwPendingErrors();
      return out;
    } catch (e) {
      // A destroyed device rejects pending maps (Chromium: an AbortError) before its lost promise settles: give the
      // loss a moment to arrive, so that the caller sees a DeviceLostError and not what looks like its own abort.
      throw this.lostError ?? (await Promise.race([this.lost, new Promise<null>((r) => setTimeout(() => r(null), 1000))])) ?? e;
    } finally {
      if (!this.lostError) this.pool.release(staging);
    }
  }

  /** Waits for all submitted work and throws the first validation error it caused. */
  async sync(): Promise<void> {
    this.assertAlive();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lost.then((e) => Promise.reject(e))]);
    await this.throwPendingErrors();
  }

  /** Submits a command buffer inside a validation error scope; the scope's result is checked at sync(). */
  submitChecked(commands: GPUCommandBuffer): void {
    this.device.pushErrorScope('validation');
    this.device.queue.submit([commands]);
    this.pendingChecks.push(this.device.popErrorScope());
  }

  assertAlive(): void {
    if (this.lostError) throw this.lostError;
    if (this.disposed) throw new DeviceLostError('destroyed', 'the runtime was disposed');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.constants.values()) t.buffer.destroy();
    this.constants.clear();
    this.pool.destroy();
    this.device.destroy();
  }

  private async throwPendingErrors(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    for (const error of await Promise.all(checks)) {
      if (error) throw new ShaderError('submit', error.message);
    }
  }
}
