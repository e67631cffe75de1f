// Device acquisition in a page, a dedicated Web Worker, or Node.js (the `webgpu` package, Dawn),
// with limits negotiated up to what the adapter offers and typed errors when something is missing.
import { DeviceLostError, LimitError, MissingFeatureError, WebGPUUnavailableError } from './errors';

/** Limits the runtime raises to the adapter's maximum, because large models need them. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Below these the kernels in shaders/ cannot run at all. */
const MINIMUM_LIMITS: Partial<Record<(typeof RAISED_LIMITS)[number], number>> = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
};

export interface DeviceOptions {
  /** A `GPU` object to use instead of `navigator.gpu` (in Node: `create([...])` from `webgpu`). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Features that must exist: acquisition fails with MissingFeatureError otherwise. */
  requiredFeatures?: GPUFeatureName[];
  /** Features used when present (e.g. 'timestamp-query', 'subgroups', 'shader-f16'). */
  optionalFeatures?: GPUFeatureName[];
  /** Lower bounds on limits, checked against the adapter before the device is requested. */
  requiredLimits?: Record<string, number>;
}

export interface AcquiredDevice {
  device: GPUDevice;
  /** subgroupMinSize / subgroupMaxSize: 0 when the adapter does not say. */
  adapterInfo: { vendor: string; architecture: string; device: string; description: string; subgroupMinSize: number; subgroupMaxSize: number };
  features: ReadonlySet<string>;
  limits: GPUSupportedLimits;
  /** Resolves with a DeviceLostError when the device is lost, including after destroy(). */
  lost: Promise<DeviceLostError>;
}

/**
 * Dawn's GPU instance in Node. Held for the life of the process: if it is garbage-collected while
 * devices created from it live, Dawn crashes the process.
 */
let nodeGpu: GPU | null = null;

/** True under Node.js (checked without Node's types, so browser builds need none). */
function runningInNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return !!proc?.versions?.node;
}

/** Finds a GPU object: the one given, the platform's navigator.gpu, or Dawn through the `webgpu` package in Node. */
async function findGpu(given?: GPU): Promise<GPU> {
  if (given) return given;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (runningInNode()) {
    if (nodeGpu) return nodeGpu;
    const moduleName = 'webgpu';
    try {
      const dawn = (await import(/* @vite-ignore */ moduleName)) as {
        create: (flags: string[]) => GPU;
        globals: Record<string, unknown>;
      };
      Object.assign(globalThis, dawn.globals);
      nodeGpu = dawn.create(nodeFlags);
      return nodeGpu;
    } catch (cause) {
      throw new WebGPUUnavailableError(
        `no WebGPU in this Node.js: install the 'webgpu' package (npm install webgpu) or pass { gpu } (${String(cause)})`,
      );
    }
  }
  throw new WebGPUUnavailableError(
    'navigator.gpu is undefined: this browser has no WebGPU (use a recent Chrome/Edge, or enable WebGPU in its flags)',
  );
}

let nodeFlags: string[] = [];

/**
 * Dawn instance flags for Node (e.g. 'enable-dawn-features=allow_unsafe_apis'); only effective
 * before the first device is acquired in this process.
 */
export function setNodeDawnFlags(flags: string[]): void {
  nodeFlags = [...flags];
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const gpu = await findGpu(options.gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    const hint = runningInNode()
        ? ' (in Node on a machine without a GPU, set VK_DRIVER_FILES to a Vulkan ICD such as SwiftShader; see README)'
        : '';
    throw new WebGPUUnavailableError(`requestAdapter() returned null: no usable GPU adapter${hint}`);
  }
  for (const feature of options.requiredFeatures ?? []) {
    if (!adapter.features.has(feature)) throw new MissingFeatureError(feature);
  }
  const features = [
    ...(options.requiredFeatures ?? []),
    ...(options.optionalFeatures ?? []).filter((f) => adapter.features.has(f)),
  ];
  const adapterLimits = adapter.limits as unknown as Record<string, number>;
  const minimums: Record<string, number> = { ...MINIMUM_LIMITS, ...(options.requiredLimits ?? {}) };
  for (const [limit, needed] of Object.entries(minimums)) {
    const available = adapterLimits[limit];
    if (available === undefined) throw new LimitError(limit, needed, 0, `unknown limit '${limit}'`);
    if (available < needed) throw new LimitError(limit, needed, available);
  }
  const requiredLimits: Record<string, number> = {};
  for (const limit of RAISED_LIMITS) requiredLimits[limit] = adapterLimits[limit];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const lost = device.lost.then((info) => new DeviceLostError(info.reason ?? 'unknown', info.message));
  const info = adapter.info;
  return {
    device,
    adapterInfo: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      subgroupMinSize: info?.subgroupMinSize ?? 0,
      subgroupMaxSize: info?.subgroupMaxSize ?? 0,
    },
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    lost,
  };
}
