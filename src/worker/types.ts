// The finetuner's requests and answers: plain data, so they cross a worker boundary by structured cloning.
import type { MatmulPath } from '../gpu';
import type { LoraTarget, MethodName } from '../adapters';
import type { CheckpointOptions } from '../storage';
import type { TokenizedRow } from '../train';
import type { QuantSpec } from '../quant';

/** What every report counts: `loaded` of `total` (null when not known, e.g. a download without Content-Length), and a
 *  `message` the user should see that is not an error (a cache entry found broken and fetched again, a lost GPU
 *  device recovered from a checkpoint). */
interface Counted {
  loaded: number;
  total: number | null;
  message?: string;
}

/** Bytes of `file` downloaded; `overall`: across every shard of the model so far, of the model's (the index's
 *  total_size for shards, a little under the files' bytes; null where unknown). */
export interface DownloadProgress extends Counted {
  phase: 'download';
  file: string;
  overall?: { loaded: number; total: number | null };
}

/** Linears quantized; `file` is the weight being quantized. */
export interface QuantizeProgress extends Counted {
  phase: 'quantize';
  file: string;
}

/** Bytes of the cached model read back or stored, or (loaded 0, total null) a message about the cache. */
export interface CacheProgress extends Counted {
  phase: 'cache';
  file?: string;
}

/** Steps done of the run (`step`, its `loss`); also a message with no loss (a recovery). */
export interface TrainProgress extends Counted {
  phase: 'train';
  step: number;
  loss?: number;
  /** The step's tokens over its own wall time (StepInfo.stepMs: evaluation and checkpoints not included). */
  tokensPerSecond?: number;
  /** The steps left times the mean time of the last 10 steps (the run's first step, which also builds the kernels,
   *  left out once there are others); evaluations and checkpoints still to come are not included. */
  etaSeconds?: number;
}

/** An evaluation during training (`step`, its validation `loss`), or, without a step, windows of a perplexity done. */
export interface EvalProgress extends Counted {
  phase: 'eval';
  step?: number;
  loss?: number;
}

/** A report of a long call, by phase. */
export type Progress = DownloadProgress | QuantizeProgress | CacheProgress | TrainProgress | EvalProgress;
export type ProgressPhase = Progress['phase'];

export type ProgressCallback = (p: Progress) => void;

/** Where a model comes from. */
export type ModelInput =
  /** A Hugging Face id ('HuggingFaceTB/SmolLM2-135M') or a base URL with the hub's layout ('https://…/model'). */
  | string
  /** Local files (an <input type=file multiple> selection), keyed by their names. */
  | File[]
  | Record<string, Blob>
  /** A directory the user picked (showDirectoryPicker). */
  | FileSystemDirectoryHandle;

export interface LoadRequest {
  model: ModelInput;
  /** For a Hugging Face id, default 'main'. */
  revision?: string;
  /** A Hugging Face token for gated or private models (sent as Authorization: Bearer). */
  token?: string;
  /** The base's format; default NF4, groups of 64, ICQ calibration. null keeps the linears in f32. */
  quant?: QuantSpec | null;
  quantizeLmHead?: boolean;
  /** 'quantized': the token embedding in the base's format too (a tied LM head then reads it: one copy); default
   *  'f32'. Needs a quantized base. */
  embedding?: 'f32' | 'quantized';
  /** Keep the quantized model in IndexedDB so that the next load skips download and quantization (default true
   *  where IndexedDB exists and the base is quantized). */
  cache?: boolean;
}

export interface ModelInfo {
  /** The cache key (source, revision and quantization spec). */
  key: string;
  /** The model's name as exports give it (the hub id, a URL's last segment, config.json's _name_or_path), or null. */
  name: string | null;
  fromCache: boolean;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** The longest sequence the model takes (max_position_embeddings). */
  maxPositions: number;
  quant: QuantSpec | null;
  /** How the token embedding is held: f32, or in the base's format (LoadRequest.embedding). */
  embedding: 'f32' | 'quantized';
  hasTokenizer: boolean;
  seconds: number;
  /** The quantized GEMMs' path on this device (the f16 matrix units or f32) and why: Runtime.capabilities.matmul. */
  matmul: MatmulPath;
}

/** The papers' methods by name (docs/methods.md). */

export type TrainData =
  /** Plain text (or documents), packed into rows of seqLen tokens. */
  | { text: string | string[] }
  /** JSONL of {instruction, input?, output}. */
  | { alpaca: string }
  /** JSONL of {messages: [{role, content}]}, rendered with the model's chat template. */
  | { chat: string }
  /** Pre-tokenized rows, or their JSONL. */
  | { tokens: TokenizedRow[] | string };

/** train()'s options that are plain data (no callbacks, signals or datasets), as a checkpoint keeps them. */
export interface TrainRequest extends CheckpointOptions {
  data: TrainData;
  method?: MethodName;
  rank?: number;
  alpha?: number;
  dropout?: number;
  targets?: LoraTarget[];
  /** Pooling group of QA-LoRA / QA-BLoRA, default the base's quantization group. */
  groupSize?: number;
  /** Tokens per row, default 256. */
  seqLen?: number;
  /** Names the data in error messages (e.g. the uploaded file's name). */
  dataName?: string;
  /** Validation data, whose loss is reported at evalEvery and at the end: a fraction (or count) of the rows held out
   *  at random, or separate data of any of the data kinds (e.g. the last tenth of a text, held out by position). */
  validation?: number | TrainData;
  /** Names the run's checkpoint in IndexedDB (default 'run'); resume(runId) continues it. */
  runId?: string;
  /** Save a checkpoint every N steps (default 50; 0: only on abort), and at the end; in IndexedDB where there is one
   *  (resume() of a finished run attaches its adapters). */
  checkpointEvery?: number;
}

export interface TrainSummary {
  runId: string;
  /** The trained adapter's method. */
  method: MethodName;
  /** 'diverged': the loss went non-finite or exploded; the adapters hold their last good state (`step`), and
   *  `message` says what happened in words for the user. */
  stopped: 'completed' | 'aborted' | 'diverged';
  message?: string;
  /** Steps of the run done so far (a resumed run counts the earlier ones). */
  step: number;
  steps: number;
  losses: { step: number; loss: number }[];
  evals: { step: number; loss: number; perplexity: number }[];
  /** GPU devices lost during the run and recovered from a checkpoint, with the steps each loss cost. */
  recoveries: { atStep: number; fromStep: number }[];
  seconds: number;
}

export interface GenerateRequest {
  /** New tokens at most, a whole number ≥ 1; default 128. */
  maxTokens?: number;
  /** false: the base model alone, as if no adapter were attached (to compare before and after). */
  adapters?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
}

export interface EvaluateRequest {
  /** false: the base model alone, as if no adapter were attached. */
  adapters?: boolean;
  /** Tokens per window, default min(512, max_position_embeddings). */
  window?: number;
  stride?: number;
}

export interface ExportMergedRequest {
  /** 'quantized' (default): the adapter folded into the low-bit base losslessly (QA-LoRA, QA-BLoRA, IEC over them);
   *  the model keeps the merged weights and the adapter is detached. 'dense': f16/bf16 weights in transformers'
   *  layout with any method's adapter folded in; the model is left as it was. */
  format?: 'quantized' | 'dense';
  dtype?: 'f16' | 'bf16';
}

export interface CachedEntry {
  key: string;
  kind: 'model' | 'checkpoint';
  bytes: number;
  createdAt: string;
}

/** Exported files: name → bytes (transferred, not copied, out of a worker). */
export type Files = Record<string, ArrayBuffer>;
