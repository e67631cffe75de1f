// The public API: createFinetuner (a worker by default, or in-thread), its request and progress types, and the typed
// error transfer that keeps error classes intact across the worker boundary.
export { createAdapters, DEFAULT_QUANT, FinetuneEngine, type EngineOptions } from './engine';
export { deserializeError, FinetunerError, installErrorTransfer, serializeError } from './errors';
export { createFinetuner, type Finetuner, type FinetunerOptions } from './finetuner';
export type * from './types';
