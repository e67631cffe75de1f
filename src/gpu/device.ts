// Device acquisition in a page, a dedicated Web Worker, or Node.js (the `webgpu` package, Dawn),
// with limits negotiated up to what the adapter offers and typed errors when something is missing.
import { NODE_MATRIX_TOGGLES, type SubgroupMatrixConfig } from './capabilities';
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
  /** Node only: create Dawn with the toggles that let it offer f16 and subgroup matrices on NVIDIA Vulkan
   *  (NODE_MATRIX_TOGGLES; off by default, as in Dawn). Decided by the first runtime of the process that creates
   *  Dawn with or without it: each choice gets its own Dawn instance. No effect with `gpu` or in a browser. */
  nodeMatrixUnits?: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  /** subgroupMinSize / subgroupMaxSize: 0 when the adapter does not say. */
  adapterInfo: {
    vendor: string; architecture: string; device: string; description: string; subgroupMinSize: number; subgroupMaxSize: number;
    /** The matrix units' shapes (adapter.info.subgroupMatrixConfigs; empty where the adapter has none). */
    subgroupMatrixConfigs: SubgroupMatrixConfig[];
  };
  features: ReadonlySet<string>;
  limits: GPUSupportedLimits;
  /** Resolves with a DeviceLostError when the device is lost, including after destroy(). */
  lost: Promise<DeviceLostError>;
}

/**
 * Dawn's GPU instances in Node, by their flags. Held for the life of the process: if one is garbage-collected
 * while devices created from it live, Dawn crashes the process.
 */
const nodeGpus = new Map<string, GPU>();

/** True under Node.js (checked without Node's types, so browser builds need none). */
function runningInNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return !!proc?.versions?.node;
}

/** Finds a GPU object: the one given, the platform's navigator.gpu, or Dawn through the `webgpu` package in Node. */
async function findGpu(given?: GPU, matrixUnits = false): Promise<GPU> {
  if (given) return given;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (runningInNode()) {
    const flags = matrixUnits ? withMatrixToggles(nodeFlags) : nodeFlags;
    const key = flags.join('\n');
    const known = nodeGpus.get(key);
    if (known) return known;
    const moduleName = 'webgpu';
    try {
      const dawn = (await import(/* @vite-ignore */ moduleName)) as {
        create: (flags: string[]) => GPU;
        globals: Record<string, unknown>;
      };
      Object.assign(globalThis, dawn.globals);
      const gpu = dawn.create(flags);
      nodeGpus.set(key, gpu);
      return gpu;
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

/** Dawn flags with NODE_MATRIX_TOGGLES added to their enable-dawn-features list (made if absent). */
export function withMatrixToggles(flags: readonly string[]): string[] {
  const prefix = 'enable-dawn-features=';
  const at = flags.findIndex((f) => f.startsWith(prefix));
  const enabled = at < 0 ? [] : flags[at].slice(prefix.length).split(',').filter(Boolean);
  const merged = `${prefix}${[...new Set([...enabled, ...NODE_MATRIX_TOGGLES])].join(',')}`;
  return at < 0 ? [...flags, merged] : flags.map((f, i) => (i === at ? merged : f));
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const gpu = await findGpu(options.gpu, options.nodeMatrixUnits);
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
  const configs = (info as { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> } | undefined)?.subgroupMatrixConfigs;
  return {
    device,
    adapterInfo: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      subgroupMinSize: info?.subgroupMinSize ?? 0,
      subgroupMaxSize: info?.subgroupMaxSize ?? 0,
      subgroupMatrixConfigs: [...(configs ?? [])].map((c) => ({
        componentType: String(c.componentType), resultComponentType: String(c.resultComponentType), M: c.M, N: c.N, K: c.K,
      })),
    },
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    lost,
  };
}
