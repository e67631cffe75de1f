// LLaMA config.json → a checked, normalised LlamaConfig, and the RoPE inverse frequencies it implies.
import { ModelFormatError, UnsupportedModelError } from './errors';

export interface RopeSettings {
  theta: number;
  /** 'default', 'linear' or 'llama3'. */
  type: string;
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface LlamaConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsNormEps: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  rope: RopeSettings;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

const FILE = 'config.json';

/** Upper bounds no real LLaMA comes near: past them a config is corrupt, and checking here keeps absurd values from
 *  reaching allocations (a billion layers failed as a RangeError inside a Map). */
const MAXIMUM: Record<string, number> = {
  vocab_size: 1 << 24, hidden_size: 1 << 17, intermediate_size: 1 << 19, num_hidden_layers: 1024,
  num_attention_heads: 1024, num_key_value_heads: 1024, head_dim: 1 << 12, max_position_embeddings: 1 << 24,
};

function int(raw: Record<string, unknown>, field: string, fallback?: number): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ModelFormatError(FILE, `field '${field}' must be a positive integer, got ${JSON.stringify(raw[field])}`);
  }
  if (v > (MAXIMUM[field] ?? Infinity)) throw new ModelFormatError(FILE, `field '${field}' is ${v}, past any real model's (at most ${MAXIMUM[field]})`);
  return v;
}

/** A finite number (> 0 when `positive`), or the fallback when the field is absent. */
function num(raw: Record<string, unknown>, field: string, fallback: number, positive = false): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFormatError(FILE, `field '${field}' must be a number, got ${JSON.stringify(raw[field])}`);
  if (positive && !(v > 0)) throw new ModelFormatError(FILE, `field '${field}' must be positive, got ${v}`);
  return v;
}

function object(raw: Record<string, unknown>, field: string): Record<string, unknown> | null {
  const v = raw[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ModelFormatError(FILE, `field '${field}' must be an object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function ropeSettings(raw: Record<string, unknown>, maxPositions: number): RopeSettings {
  // transformers 5 nests everything under rope_parameters; 4.x has rope_theta and rope_scaling at the top.
  const nested = object(raw, 'rope_parameters');
  const scaling = nested ?? object(raw, 'rope_scaling') ?? {};
  const theta = num(nested ?? raw, 'rope_theta', 10000, true);
  const type = String(scaling.rope_type ?? scaling.type ?? 'default');
  if (!['default', 'linear', 'llama3'].includes(type)) {
    throw new UnsupportedModelError(FILE, 'rope_type', `'${type}' is not supported (default, linear and llama3 are)`);
  }
  // linear and llama3 scaling have no defaults worth guessing: their fields must be there.
  const required = (field: string, fallback: number) => {
    if (type !== 'default' && (field === 'factor' || type === 'llama3') && scaling[field] === undefined) {
      throw new ModelFormatError(FILE, `rope type '${type}' needs the field '${field}'`);
    }
    return num(scaling, field, fallback, true);
  };
  const settings = {
    theta,
    type,
    factor: required('factor', 1),
    lowFreqFactor: required('low_freq_factor', 1),
    highFreqFactor: required('high_freq_factor', 4),
    originalMaxPositions: required('original_max_position_embeddings', maxPositions),
  };
  if (type === 'llama3' && !(settings.highFreqFactor > settings.lowFreqFactor)) {
    throw new ModelFormatError(FILE, `rope 'high_freq_factor' ${settings.highFreqFactor} must exceed 'low_freq_factor' ${settings.lowFreqFactor}`);
  }
  return settings;
}

/** Reads a parsed config.json. Llama (and bias-free, full-attention Mistral) only. */
export function parseLlamaConfig(raw: Record<string, unknown>): LlamaConfig {
  const modelType = String(raw.model_type ?? '');
  if (modelType !== 'llama' && modelType !== 'mistral') {
    throw new UnsupportedModelError(FILE, 'model_type', `unsupported model_type '${modelType}' (llama and mistral are supported)`);
  }
  if (raw.attention_bias === true || raw.mlp_bias === true) {
    throw new UnsupportedModelError(FILE, raw.attention_bias ? 'attention_bias' : 'mlp_bias', 'linear biases are not supported');
  }
  if (raw.sliding_window != null) {
    throw new UnsupportedModelError(FILE, 'sliding_window', 'sliding-window attention is not supported');
  }
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UnsupportedModelError(FILE, 'hidden_act', `'${act}' is not supported (silu is)`);
  const hiddenSize = int(raw, 'hidden_size');
  const heads = int(raw, 'num_attention_heads');
  const kvHeads = int(raw, 'num_key_value_heads', heads);
  if (heads % kvHeads !== 0) throw new ModelFormatError(FILE, `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = int(raw, 'head_dim', Math.floor(hiddenSize / heads));
  if (headDim % 2 !== 0 || headDim > 256) throw new UnsupportedModelError(FILE, 'head_dim', `${headDim} must be even and at most 256`);
  const maxPositions = int(raw, 'max_position_embeddings', 2048);
  const eos = raw.eos_token_id;
  return {
    modelType,
    vocabSize: int(raw, 'vocab_size'),
    hiddenSize,
    intermediateSize: int(raw, 'intermediate_size'),
    layers: int(raw, 'num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6, true),
    maxPositions,
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    rope: ropeSettings(raw, maxPositions),
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds: Array.isArray(eos) ? eos.map(Number) : typeof eos === 'number' ? [eos] : [],
  };
}

/** RoPE inverse frequencies [headDim/2] in f32, step by step as transformers computes them. */
export function ropeInvFreq(config: LlamaConfig): Float32Array {
  const { headDim, rope } = config;
  const f = Math.fround;
  const inv = Float32Array.from({ length: headDim / 2 }, (_, i) => f(1 / f(rope.theta ** f((2 * i) / headDim))));
  if (rope.type === 'linear') return inv.map((v) => f(v / rope.factor));
  if (rope.type !== 'llama3') return inv;
  const lowWavelen = rope.originalMaxPositions / rope.lowFreqFactor;
  const highWavelen = rope.originalMaxPositions / rope.highFreqFactor;
  return inv.map((v) => {
    const wavelen = f((2 * Math.PI) / v);
    const scaled = wavelen > lowWavelen ? f(v / rope.factor) : v;
    if (wavelen < highWavelen || wavelen > lowWavelen) return scaled;
    const smooth = f(f(f(rope.originalMaxPositions / wavelen) - rope.lowFreqFactor) / (rope.highFreqFactor - rope.lowFreqFactor));
    return f(f(f(1 - smooth) * f(scaled / rope.factor)) + f(smooth * scaled));
  });
}
