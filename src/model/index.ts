// src/model: LLaMA config, streaming weight loading (quantizing linears as they arrive), tokenizer and
// chat template, the forward pass over a KV cache, generation and perplexity, the training pass (forward keeping
// activations, backward to the adapters), and PEFT import/export of LoRA adapters.
export { parseLlamaConfig, ropeInvFreq, type LlamaConfig, type RopeSettings } from './config';
export { ModelFormatError, SourceError, UnsupportedModelError } from './errors';
export { generateTokens, type GenerateOptions } from './generate';
export { embedTokens, firstQuantized, freeLinear, linearBackward, linearForward, pieces, type BlockedWeight, type LinearWeight, type WholeWeight } from './linear';
export { linearName, LlamaModel, type ForwardInput, type ForwardOptions, type KvCache } from './llama';
export { logitRows, perplexity, type PerplexityOptions, type PerplexityResult } from './perplexity';
export { checkPooling, mergeAdapters } from './merge';
export { exportAdapter, importAdapter, type QloraWebFields } from './adapter-files';
export { baseFingerprint } from './fingerprint';
export { exportDense, type DenseDtype } from './dense-export';
export { exportQuantized } from './quantized-export';
export { MANIFEST, QUANTIZED_FORMAT, QUANTIZED_VERSION, readManifest, type MergeRecord, type QuantizedManifest } from './quantized-files';
export { exportPeft, importPeft, peftLoraOptions, type ImportPeftOptions, type PeftAdapterFiles } from './peft';
export { floatData, parseSafetensorsHeader, readSafetensors, type SafetensorsEntry, type SafetensorsTensor } from './safetensors';
export { safetensorsParts, writeSafetensors, type NamedTensor } from './safetensors-write';
export { recordTrainingPass, scoredTokens, type TrainBatch, type TrainingPassOptions } from './training-pass';
export { argmax, sampleToken, seededRandom, type SamplingOptions } from './sampling';
export { blobSource, copyFiles, directoryFiles, fetchChecked, directorySource, hubSource, hubUrl, MODEL_FILES, nodeDirSource, urlSource, type ModelSource, type SourceFile } from './source';
export { loadTokenizer, TextTokenizer, type ChatMessage } from './tokenizer';
export { estimateModelSize, type ModelSize } from './size';
export { blockRows, quantizeRows, uploadDense, uploadQuantized } from './row-blocks';
export { expectedTensors, freeLlamaWeights, LINEARS, loadConfig, loadLlamaWeights, sharesEmbedding, stackLinears, type LinearKey, type LayerWeights, type LlamaWeights, type LoadOptions, type LoadProgress } from './weights';
