// src/adapters: trainable adapters over frozen linears. The interface every method implements (adapter.ts), the
// flat parameter buffers (params.ts), LoRA (lora.ts), QA-LoRA (qalora.ts) and the set of a model's adapters (set.ts).
export type { AdapterModule, AdapterPass, AdapterSaved } from './adapter';
export { AdapterConfigError } from './errors';
export { iecKey, iecParamSpecs, loraKey, loraParamSpecs, loraScale, LoraModule, type LoraHyper, type LoraShape } from './lora';
export { ParamStore, type ParamBuffer, type ParamSpec } from './params';
export { QaLoraModule, qaLoraParamSpecs } from './qalora';
export { AdapterSet, LORA_TARGETS, loraConfig, type AdaptableLinear, type AdapterMethod, type LoraConfig, type LoraOptions, type LoraTarget } from './set';
