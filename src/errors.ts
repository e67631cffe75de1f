// Every typed error this library throws, in one list: both entry points export them, and the worker boundary rebuilds
// them by name (src/worker/errors.ts).
export { AdapterConfigError } from './adapters';
export { DeviceLostError, LimitError, MissingFeatureError, ShaderError, ShapeError, WebGPUUnavailableError } from './gpu';
export { ModelFormatError, SourceError, UnsupportedModelError } from './model';
export { QuantFormatError } from './quant';
export { StorageError, StorageQuotaError } from './storage';
export { DatasetError, TrainingError } from './train';
export { FinetunerError } from './worker/errors';
