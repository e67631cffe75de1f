// src/train: datasets, the learning-rate schedule, and the training loop (AdamW on the GPU through src/ops).
export {
  alpacaDataset, alpacaPrompt, chatDataset, collate, IGNORE_LABEL, parseJsonl, shuffled, splitDataset, textDataset, tokenizedDataset,
  type CollatedBatch, type Dataset, type Example, type RowOptions, type TokenizedRow,
} from './data';
export { DatasetError, TrainingError } from './errors';
export { learningRate, type Schedule, type ScheduleKind } from './schedule';
export { evaluate, plannedSteps, train, type EvalInfo, type StepInfo, type TrainOptions, type TrainResult } from './trainer';
