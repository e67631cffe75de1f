// qlora-web: fine-tune quantized LLaMA-family models in the browser on WebGPU. This entry is the app's surface: the
// finetuner (a worker or the calling thread), its requests and reports, the typed errors and the dataset helpers.
// The layers beneath (runtime, kernels, model, trainer, storage) are `qlora-web/runtime`.
export { createFinetuner, type Finetuner, type FinetunerOptions } from './worker/finetuner';
export type * from './worker/types';
export { METHOD_NAMES, type MethodName } from './adapters/methods';
export { PRECISIONS, type MatmulPath, type Precision } from './gpu/capabilities';
export * from './errors';
export {
  alpacaDataset, chatDataset, splitDataset, textDataset, tokenizedDataset, type Dataset, type Example, type RowOptions, type TokenizedRow,
} from './train/data';
