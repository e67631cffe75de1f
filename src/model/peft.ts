// LoRA adapters in Python PEFT's format: adapter_config.json + adapter_model.safetensors, with keys
// 'base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight' ([r, in]) and '….lora_B.weight' ([out, r]).
// Export writes what PEFT writes for a LoRA on a causal LM; import checks every field and shape against the model
// before anything is put on the GPU.
import { AdapterConfigError, AdapterSet, LORA_TARGETS, loraKey, loraScale, type LoraOptions, type LoraTarget } from '../adapters';
import type { LlamaModel } from './llama';
import { readSafetensors } from './safetensors';
import { writeSafetensors } from './safetensors-write';
import type { ModelSource } from './source';

export interface PeftAdapterFiles {
  /** adapter_config.json's contents. */
  config: Record<string, unknown>;
  /** adapter_model.safetensors's bytes. */
  weights: Uint8Array;
}

/** The adapter as PEFT saves it. `baseModel` goes into base_model_name_or_path (PEFT puts the model id there). */
export async function exportPeft(adapters: AdapterSet, options: { baseModel?: string } = {}): Promise<PeftAdapterFiles> {
  if (adapters.method !== 'lora' || adapters.config.iec) {
    throw new AdapterConfigError('method', `PEFT's LoRA format holds plain LoRA, not '${adapters.method}'${adapters.config.iec ? ' with IEC' : ''}`);
  }
  const c = adapters.config;
  const values = await adapters.store.read();
  const tensors = adapters.store.names.map((name) => ({ name, shape: [...adapters.store.shape(name)], data: values.get(name)! }));
  const config = {
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: options.baseModel ?? null, revision: null,
    r: c.rank, lora_alpha: c.alpha, lora_dropout: c.dropout, use_rslora: c.rslora, target_modules: [...c.targets],
    bias: 'none', fan_in_fan_out: false, inference_mode: true, init_lora_weights: true, modules_to_save: null,
    layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {}, use_dora: false,
  };
  return { config, weights: writeSafetensors(tensors, { format: 'pt' }) };
}

const CONFIG = 'adapter_config.json';
const WEIGHTS = 'adapter_model.safetensors';

function field<T>(raw: Record<string, unknown>, name: string, check: (v: unknown) => v is T, expected: string, fallback?: T): T {
  const v = raw[name] ?? fallback;
  if (!check(v)) throw new AdapterConfigError(name, `${CONFIG}: must be ${expected}, got ${JSON.stringify(raw[name])}`);
  return v;
}

/**
 * One float tensor per expected name from an adapter's safetensors file, every name, shape and value checked before
 * anything reaches the GPU: `unknown` says what a tensor must be, `needs` who fixes the shapes, `missing` what to do
 * when the file is absent (all for messages); `rename` maps older key spellings to the expected ones. The file is
 * opened once; an absent one is an error, or null where `optional`.
 */
export async function readAdapterTensors(
  source: ModelSource, file: string, expected: ReadonlyMap<string, readonly number[]>,
  describe: { unknown: string; needs: string; missing?: string; rename?: (name: string) => string },
): Promise<Map<string, Float32Array>>;
export async function readAdapterTensors(
  source: ModelSource, file: string, expected: ReadonlyMap<string, readonly number[]>,
  describe: { unknown: string; needs: string; rename?: (name: string) => string; optional: true },
): Promise<Map<string, Float32Array> | null>;
export async function readAdapterTensors(
  source: ModelSource, file: string, expected: ReadonlyMap<string, readonly number[]>,
  describe: { unknown: string; needs: string; missing?: string; rename?: (name: string) => string; optional?: boolean },
): Promise<Map<string, Float32Array> | null> {
  const f = await source.file(file);
  if (!f && describe.optional) return null;
  if (!f) throw new AdapterConfigError(file, `not found in ${source.name}${describe.missing ? ` (${describe.missing})` : ''}`);
  const values = new Map<string, Float32Array>();
  for await (const t of readSafetensors(f.stream(), file, f.size)) {
    const name = describe.rename ? describe.rename(t.name) : t.name;
    const shape = expected.get(name);
    if (!shape) throw new AdapterConfigError(file, `tensor '${t.name}' is not ${describe.unknown}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new AdapterConfigError(file, `tensor '${t.name}' has shape [${t.shape}], ${describe.needs} need [${shape}]`);
    }
    if (values.has(name)) throw new AdapterConfigError(file, `tensor '${t.name}' appears twice`);
    if (t.dtype === 'U32') throw new AdapterConfigError(file, `tensor '${t.name}' is U32, not a float tensor`);
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new AdapterConfigError(file, `tensor '${t.name}' holds a non-finite value at index ${bad}`);
    values.set(name, t.data);
  }
  const missing = [...expected.keys()].filter((k) => !values.has(k));
  if (missing.length) throw new AdapterConfigError(file, `missing ${missing.length} tensor(s), e.g. '${missing[0]}'`);
  return values;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

/** adapter_config.json fields that describe the adapter, only shape its initialisation, or that the import reads
 *  itself: any other field that is set (not null, false, empty) changes what the adapter computes, and is refused. */
const UNDERSTOOD = new Set([
  'peft_type', 'task_type', 'base_model_name_or_path', 'revision', 'r', 'lora_alpha', 'lora_dropout', 'use_rslora', 'target_modules',
  'bias', 'inference_mode', 'init_lora_weights', 'auto_mapping', 'peft_version', 'runtime_config', 'megatron_config', 'megatron_core',
  'loftq_config', 'eva_config', 'corda_config', 'layers_pattern', 'qalora_group_size', 'ensure_weight_tying',
]);
/** Initialisations that rewrite the base weights too: the adapter is a delta on that rewritten base, not on ours. */
const REWRITES_BASE = /^(pissa|pissa_niter_\d+|olora|corda|loftq)$/;

const isSet = (v: unknown) =>
  !(v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && !v.length) || (typeof v === 'object' && v !== null && !Object.keys(v).length));

/** LoRA options from adapter_config.json, refusing what this library does not implement. */
export function peftLoraOptions(raw: Record<string, unknown>): LoraOptions {
  if (raw.peft_type !== 'LORA') throw new AdapterConfigError('peft_type', `${CONFIG}: only 'LORA' adapters can be imported, got ${JSON.stringify(raw.peft_type)}`);
  const rank = field(raw, 'r', (v): v is number => Number.isInteger(v) && (v as number) > 0, 'a positive integer');
  const alpha = field(raw, 'lora_alpha', isNumber, 'a number', 8);
  const dropout = field(raw, 'lora_dropout', isNumber, 'a number', 0);
  const rslora = field(raw, 'use_rslora', isBool, 'true or false', false);
  // The scale is applied in f32: one that overflows (lora_alpha 1e300) or rounds to 0 is not the adapter's.
  const scale = Math.fround(loraScale({ rank, alpha, rslora }));
  if (!(Number.isFinite(scale) && scale > 0)) throw new AdapterConfigError('lora_alpha', `${CONFIG}: ${alpha} with r = ${rank} gives a scale of ${scale} in f32; it must be a positive number f32 holds`);
  if (raw.bias !== undefined && raw.bias !== 'none') throw new AdapterConfigError('bias', `${CONFIG}: ${JSON.stringify(raw.bias)} is not supported (only 'none')`);
  if (typeof raw.init_lora_weights === 'string' && REWRITES_BASE.test(raw.init_lora_weights)) {
    throw new AdapterConfigError('init_lora_weights', `${CONFIG}: '${raw.init_lora_weights}' rewrites the base weights too, so the adapter only holds on that rewritten base; convert it to a plain LoRA in PEFT first (path_initial_model_for_weight_conversion)`);
  }
  for (const [name, value] of Object.entries(raw)) {
    if (!UNDERSTOOD.has(name) && isSet(value)) {
      throw new AdapterConfigError(name, `${CONFIG}: ${JSON.stringify(value)} is not supported: '${name}' changes what the adapter computes and this library does not implement it`);
    }
  }
  const modules = raw.target_modules;
  const list = typeof modules === 'string' ? [modules] : modules;
  if (!Array.isArray(list) || !list.every((m) => typeof m === 'string')) {
    throw new AdapterConfigError('target_modules', `${CONFIG}: must be a list of module names, got ${JSON.stringify(modules)}`);
  }
  for (const m of list) {
    if (!(LORA_TARGETS as readonly string[]).includes(m)) {
      throw new AdapterConfigError('target_modules', `${CONFIG}: '${m}' is not a linear of a LLaMA layer (${LORA_TARGETS.join(', ')}; regular expressions are not supported)`);
    }
  }
  return { rank, alpha, dropout, rslora, targets: list as LoraTarget[] };
}

export interface ImportPeftOptions {
  /** Refuse an adapter whose base_model_name_or_path is set and differs from this id. */
  baseModel?: string;
}

/**
 * A PEFT LoRA adapter from `source` (adapter_config.json and adapter_model.safetensors; a URL, the hub, or Blobs),
 * checked against `model`: every tensor the config implies must be there with the model's shapes, and nothing else.
 * Returns a new AdapterSet; attach it with `model.adapters = set` to evaluate or continue training.
 */
export async function importPeft(model: LlamaModel, source: ModelSource, options: ImportPeftOptions = {}): Promise<AdapterSet> {
  const configFile = await source.file(CONFIG);
  if (!configFile) throw new AdapterConfigError(CONFIG, `not found in ${source.name}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await configFile.text());
  } catch (e) {
    throw new AdapterConfigError(CONFIG, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AdapterConfigError(CONFIG, 'must hold a JSON object');
  const lora = peftLoraOptions(raw);
  const base = raw.base_model_name_or_path;
  if (options.baseModel && typeof base === 'string' && base && base !== options.baseModel) {
    throw new AdapterConfigError('base_model_name_or_path', `${CONFIG}: the adapter was trained on '${base}', not '${options.baseModel}'`);
  }
  const expected = new Map<string, number[]>();
  for (const l of model.adaptableLinears()) {
    if (!lora.targets!.includes(l.kind)) continue;
    expected.set(loraKey(l.target, 'A'), [lora.rank!, l.inFeatures]);
    expected.set(loraKey(l.target, 'B'), [l.outFeatures, lora.rank!]);
  }
  const values = await readAdapterTensors(source, WEIGHTS, expected, {
    missing: 'adapter_model.bin is not supported: save with safe_serialization',
    // PEFT ≥ 0.7 saves keys without the adapter name; older files carry '.default' before '.weight'.
    rename: (name) => name.replace(/\.lora_([AB])\.default\.weight$/, '.lora_$1.weight'),
    unknown: `a LoRA tensor of this model for target_modules ${JSON.stringify(lora.targets)}`,
    needs: `the model and r = ${lora.rank}`,
  });
  const set = AdapterSet.lora(model.rt, model.adaptableLinears(), lora);
  for (const [name, data] of values) set.store.write(name, data);
  return set;
}
