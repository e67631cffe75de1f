// src/model: LLaMA config, streaming weight loading (quantizing linears as they arrive), tokenizer and
// chat template, the forward pass over a KV cache, generation and perplexity.
export { parseLlamaConfig, ropeInvFreq, type LlamaConfig, type RopeSettings } from './config';
export { ModelFormatError, UnsupportedModelError } from './errors';
export { generateTokens, type GenerateOptions } from './generate';
export { freeLinear, linearForward, type LinearWeight } from './linear';
export { LlamaModel, type ForwardInput, type ForwardOptions, type KvCache } from './llama';
export { perplexity, type PerplexityOptions, type PerplexityResult } from './perplexity';
export { parseSafetensorsHeader, readSafetensors, type SafetensorsEntry, type SafetensorsTensor } from './safetensors';
export { argmax, sampleToken, seededRandom, type SamplingOptions } from './sampling';
export { blobSource, hubSource, urlSource, type ModelSource, type SourceFile } from './source';
export { loadTokenizer, TextTokenizer, type ChatMessage } from './tokenizer';
export { expectedTensors, freeLlamaWeights, loadConfig, loadLlamaWeights, stackLinears, type LayerWeights, type LlamaWeights, type LoadOptions, type LoadProgress } from './weights';
