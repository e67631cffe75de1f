// src/gpu: the WebGPU runtime. Device acquisition, buffer pool, tensors, pipeline cache,
// one-encoder-per-step launches, readback, timestamps, device-loss detection.
export { acquireDevice, setNodeDawnFlags, withMatrixToggles, type AcquiredDevice, type DeviceOptions } from './device';
export {
  MATRIX_FEATURES, MATRIX_SUBGROUPS, matmulPathFor, NODE_MATRIX_TOGGLES, pickMatrixConfig, PRECISIONS, settleMatmulPath,
  type AdapterMatrixFacts, type MatmulPath, type Precision, type SubgroupMatrixConfig,
} from './capabilities';
export { BufferPool, sizeClass, type PoolStats } from './buffer-pool';
export { DeviceLostError, LimitError, MissingFeatureError, ShaderError, ShapeError, WebGPUUnavailableError } from './errors';
export type { Kernel, KernelSpec } from './kernel-cache';
export { bufferLimit, Runtime, type BufferLimits, type Capabilities, type RuntimeOptions } from './runtime';
export { assertBindable, Step, type DispatchTiming } from './step';
export { byteLength, checkShape, expectShape, numel, reshape, type DType, type Tensor } from './tensor';
export { Uniforms, u32Params } from './uniforms';
export { BufferUsage, MapMode } from './flags';
export { includeWgsl, renderWgsl, variantName, type TemplateValues, type WgslLibrary } from './wgsl-template';
export { seededRandom } from './random';
