// Every method's adapters as files, and back. Plain LoRA is written in PEFT's format (peft.ts); the other methods in
// our superset of it (a PEFT loader refuses them by peft_type instead of misreading them):
//   adapter_config.json        PEFT's LoRA fields (r, lora_alpha, lora_dropout, use_rslora, target_modules, …) with
//                              peft_type 'QLORA_WEB', plus `qlora_web` (below)
//   adapter_model.safetensors  every parameter by its name: '….lora_A.weight' [r', in/G] and '….lora_B.weight'
//                              [out/R, r'] (r' the real rank: 2r for the BLoRA forms), '….iec_beta_A' / '_B' [1] with
//                              IEC; the authors' QA-BLoRA has only lora_A [out/8, in/4]
//   qlora_web.json             `qlora_web` alone, beside a PEFT-format LoRA (PEFT knows no such field)
//   optimizer.safetensors      optional: each parameter's AdamW moments ('<name>.adam_m', '<name>.adam_v'); with it,
//                              train({ startStep: adapters.trainedSteps }) continues the run bit for bit
// `qlora_web` = { format_version: 1, method, group_size (pooled methods), iec, real_rank, base (the fingerprint of
// the base they were trained on, or null), trained_steps }.
import { ADAPTER_METHODS, ADAPTERS, AdapterConfigError, buildAdapters, methodFor, type AdapterMethod, type AdapterSet, type LoraOptions } from '../adapters';
import type { LlamaModel } from './llama';
import { exportPeft, importPeft, peftLoraOptions, readAdapterTensors } from './peft';
import { safetensorsParts, type NamedTensor } from './safetensors-write';
import { readJson, type ModelSource } from './source';

const CONFIG = 'adapter_config.json';
const WEIGHTS = 'adapter_model.safetensors';
const SIDECAR = 'qlora_web.json';
const OPTIMIZER = 'optimizer.safetensors';

export interface QloraWebFields {
  format_version: 1;
  method: AdapterMethod;
  group_size: number | null;
  iec: boolean;
  real_rank: number;
  base: string | null;
  trained_steps: number;
}

function blob(bytes: Uint8Array[] | string): Blob {
  return new Blob(typeof bytes === 'string' ? [bytes] : (bytes as BlobPart[]));
}

/** The adapters as files (see the header); `optimizer` adds the AdamW moments for a bit-exact resume. */
export async function exportAdapter(adapters: AdapterSet, options: { baseModel?: string; optimizer?: boolean } = {}): Promise<Record<string, Blob>> {
  const c = adapters.config;
  const store = adapters.store;
  const firstA = store.names.find((n) => n.endsWith('lora_A.weight'))!;
  const fields: QloraWebFields = {
    format_version: 1, method: adapters.method, group_size: adapters.method === 'lora' ? null : adapters.groupSize, iec: c.iec,
    // The authors' QA-BLoRA is one matrix with no rank.
    real_rank: adapters.method === 'qa-blora-authors' ? 0 : store.shape(firstA)[0], base: adapters.base, trained_steps: adapters.trainedSteps,
  };
  const files: Record<string, Blob> = {};
  if (adapters.method === 'lora' && !c.iec) {
    const peft = await exportPeft(adapters, options);
    files[CONFIG] = blob(JSON.stringify(peft.config, null, 2) + '\n');
    files[WEIGHTS] = blob([peft.weights]);
    files[SIDECAR] = blob(JSON.stringify(fields, null, 2) + '\n');
  } else {
    const values = await store.read();
    const tensors: NamedTensor[] = store.names.map((name) => ({ name, shape: [...store.shape(name)], data: values.get(name)! }));
    const config = {
      peft_type: 'QLORA_WEB', task_type: 'CAUSAL_LM', base_model_name_or_path: options.baseModel ?? null,
      r: c.rank, lora_alpha: c.alpha, lora_dropout: c.dropout, use_rslora: c.rslora, target_modules: [...c.targets],
      bias: 'none', inference_mode: true, qlora_web: fields,
    };
    files[CONFIG] = blob(JSON.stringify(config, null, 2) + '\n');
    files[WEIGHTS] = blob(safetensorsParts(tensors, { format: 'pt' }));
  }
  if (options.optimizer) {
    const [m, v] = [await store.read('m'), await store.read('v')];
    const tensors = store.names.flatMap((name) => [
      { name: `${name}.adam_m`, shape: [...store.shape(name)], data: m.get(name)! },
      { name: `${name}.adam_v`, shape: [...store.shape(name)], data: v.get(name)! },
    ]);
    files[OPTIMIZER] = blob(safetensorsParts(tensors, { trained_steps: String(adapters.trainedSteps) }));
  }
  return files;
}

function qloraWebFields(raw: unknown, file: string): QloraWebFields {
  const f = raw as Partial<QloraWebFields> | null;
  if (!f || typeof f !== 'object') throw new AdapterConfigError('qlora_web', `${file}: must be an object`);
  if (f.format_version !== 1) throw new AdapterConfigError('qlora_web', `${file}: format_version ${JSON.stringify(f.format_version)} is not one this library reads (1)`);
  if (!ADAPTER_METHODS.includes(f.method as AdapterMethod)) throw new AdapterConfigError('method', `${file}: method must be one of ${ADAPTER_METHODS.join(', ')}, got ${JSON.stringify(f.method)}`);
  if (!(Number.isInteger(f.trained_steps) && f.trained_steps! >= 0)) throw new AdapterConfigError('trained_steps', `${file}: must be an integer ≥ 0`);
  if (f.base !== null && typeof f.base !== 'string') throw new AdapterConfigError('base', `${file}: must be a fingerprint string or null`);
  return f as QloraWebFields;
}

/**
 * Adapters exported by exportAdapter (any method) or PEFT (plain LoRA) on `model`: the set is built as the method
 * builds it, every tensor checked against it, then written; with optimizer.safetensors the moments and the step count
 * come back too. Nothing stays on the GPU if a check fails.
 */
export async function importAdapter(model: LlamaModel, source: ModelSource): Promise<AdapterSet> {
  const raw = await readJson(source, CONFIG);
  if (!raw) throw new AdapterConfigError(CONFIG, `not found in ${source.name}`);
  const ours = { unknown: 'a parameter of these adapters on this model', needs: 'the model and the config' };
  let fields: QloraWebFields | null;
  let set: AdapterSet;
  if (raw.peft_type === 'QLORA_WEB') {
    fields = qloraWebFields(raw.qlora_web, `${CONFIG} qlora_web`);
    set = ourMethod(model, fields, peftLoraOptions({ ...raw, peft_type: 'LORA', qlora_web: undefined }));
    try {
      const expected = new Map(set.store.names.map((n) => [n, set.store.shape(n)] as const));
      for (const [name, data] of await readAdapterTensors(source, WEIGHTS, expected, ours)) set.store.write(name, data);
    } catch (e) {
      set.dispose();
      throw e;
    }
  } else {
    const sidecar = await readJson(source, SIDECAR);
    fields = sidecar ? qloraWebFields(sidecar, SIDECAR) : null;
    set = await importPeft(model, source);
  }
  try {
    const moments = new Map(set.store.names.flatMap((n) => [[`${n}.adam_m`, set.store.shape(n)], [`${n}.adam_v`, set.store.shape(n)]] as const));
    const saved = await readAdapterTensors(source, OPTIMIZER, moments, { ...ours, optional: true });
    if (saved) {
      for (const [name, data] of saved) {
        // A second moment is a running mean of squares: a negative one makes the next update √v NaN.
        const negative = name.endsWith('.adam_v') ? data.findIndex((v) => v < 0) : -1;
        if (negative >= 0) throw new AdapterConfigError(OPTIMIZER, `tensor '${name}' holds a negative second moment (${data[negative]}) at index ${negative}`);
      }
      for (const [name, data] of saved) set.store.write(name.replace(/\.adam_[mv]$/, ''), data, name.endsWith('.adam_m') ? 'm' : 'v');
      set.trainedSteps = fields?.trained_steps ?? 0;
    }
    set.base = fields?.base ?? null;
    return set;
  } catch (e) {
    set.dispose();
    throw e;
  }
}

/** The set an exportAdapter superset describes, built as its method builds it (parameters still at their init). */
function ourMethod(model: LlamaModel, fields: QloraWebFields, options: LoraOptions): AdapterSet {
  const pooled = ADAPTERS[fields.method].groupPooled;
  if (pooled && !Number.isInteger(fields.group_size)) {
    throw new AdapterConfigError('group_size', `${CONFIG}: ${fields.method} needs an integer group_size, got ${JSON.stringify(fields.group_size)}`);
  }
  if (typeof fields.iec !== 'boolean') throw new AdapterConfigError('iec', `${CONFIG}: must be true or false, got ${JSON.stringify(fields.iec)}`);
  return buildAdapters(model.rt, model.adaptableLinears(), methodFor(fields.method, fields.iec), { ...options, groupSize: pooled ? fields.group_size : null });
}
