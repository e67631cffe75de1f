// src/adapters: trainable adapters over frozen linears. The interface every method implements (adapter.ts), the
// flat parameter buffers (params.ts), LoRA (lora.ts), the pooled methods QA-LoRA and BLoRA (pooled.ts), the set of a model's adapters (set.ts)
// and the table of training methods (methods.ts).
export type { AdapterModule, AdapterPass, AdapterSaved } from './adapter';
export { AdapterConfigError } from './errors';
export { ElasticConnection, iecKey, iecParamSpecs } from './iec';
export { loraKey, loraParamSpecs, loraScale, LoraModule, type LoraHyper, type LoraShape } from './lora';
export { ParamStore, type ParamBuffer, type ParamSpec } from './params';
export { AUTHORS_QA_BLORA, AuthorsQaBloraModule, authorsQaBloraParamSpecs, PooledLoraModule, pooledParamSpecs, type Pooling } from './pooled';
export { AdapterSet, LORA_TARGETS, loraConfig, type AdaptableLinear, type AdapterMethod, type LoraConfig, type LoraOptions, type LoraTarget } from './set';
export { ADAPTER_METHODS, ADAPTERS, buildAdapters, METHOD_NAMES, METHODS, methodFor, methodOf, type MethodName } from './methods';
