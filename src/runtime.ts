// qlora-web/runtime: the layers beneath the finetuner, as the README documents them: the GPU runtime and its matmul,
// quantized weights and their kernels, adapters, the model (loading, generation, perplexity, the training pass), the
// trainer and datasets, adapter and model files, the IndexedDB cache and checkpoints. Internals (kernel launchers,
// pools, templates) stay unexported.
export * from './errors';
export { Runtime, type Capabilities, type RuntimeOptions } from './gpu/runtime';
export { PRECISIONS, type MatmulPath, type Precision, type SubgroupMatrixConfig } from './gpu/capabilities';
export type { DeviceOptions } from './gpu/device';
export type { Step, DispatchTiming } from './gpu/step';
export type { DType, Tensor } from './gpu/tensor';
export { f16ProductBound, matmul, quantMatmul, quantMatmulBackward, type MatmulOptions, type QuantMatmulOptions } from './matmul';
export {
  bitsPerWeight, dequantize, quantize, stackQuantized, type Bits, type Calibration, type Codebook, type GroupSize, type QuantizedWeight,
  type QuantSpec, type StackedWeight,
} from './quant';
export {
  ADAPTER_METHODS, AdapterSet, buildAdapters, LORA_TARGETS, METHOD_NAMES, METHODS, methodOf, type AdaptableLinear, type AdapterMethod,
  type LoraOptions, type LoraTarget, type MethodName,
} from './adapters';
export {
  baseFingerprint, blobSource, directorySource, estimateModelSize, exportAdapter, exportDense, exportPeft, exportQuantized, generateTokens, hubSource, importAdapter,
  importPeft, LlamaModel, loadTokenizer, mergeAdapters, nodeDirSource, perplexity, recordTrainingPass, urlSource, TextTokenizer,
  type ChatMessage, type DenseDtype, type ForwardInput, type ForwardOptions, type GenerateOptions, type ImportPeftOptions, type KvCache,
  type LlamaConfig, type LoadOptions, type LoadProgress, type ModelSize, type ModelSource, type PeftAdapterFiles, type PerplexityOptions,
  type PerplexityResult, type SourceFile, type TrainBatch, type TrainingPassOptions,
} from './model';
export {
  alpacaDataset, chatDataset, collate, evaluate, splitDataset, textDataset, tokenizedDataset, train, type CollatedBatch, type Dataset,
  type EvalInfo, type Example, type RowOptions, type ScheduleKind, type StepInfo, type TokenizedRow, type TrainOptions, type TrainResult,
} from './train';
export {
  loadCachedModel, loadCheckpoint, ModelCache, saveCheckpoint, type CacheEntryInfo, type CachedLoadOptions, type CacheProblem,
  type CheckpointOptions, type ModelCacheOptions, type RunState,
} from './storage';
