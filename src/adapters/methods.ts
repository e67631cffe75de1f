// The methods in one table: the name a user picks (the finetuner's `method`, the demo's list) → the adapter it builds
// and whether IR-QLoRA's elastic connection (IEC) wraps it; per adapter, whether its input is pooled per
// quantization group (then its pooling must be the base's groups, and it merges into the base's offsets). The
// finetuner, the adapter files and merging all read it here.
import type { Runtime } from '../gpu';
import { AdapterConfigError } from './errors';
import { AdapterSet, type AdaptableLinear, type AdapterMethod, type LoraOptions } from './set';

export const METHODS = {
  qlora: { adapter: 'lora', iec: false },
  'ir-qlora': { adapter: 'lora', iec: true },
  'qa-lora': { adapter: 'qa-lora', iec: false },
  'ir-qa-lora': { adapter: 'qa-lora', iec: true },
  'q-blora': { adapter: 'q-blora', iec: false },
  'qa-blora': { adapter: 'qa-blora', iec: false },
  'qa-blora-authors': { adapter: 'qa-blora-authors', iec: false },
} as const satisfies Record<string, { adapter: AdapterMethod; iec: boolean }>;

/** A training method by the name users pick. */
export type MethodName = keyof typeof METHODS;
export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

export const ADAPTERS: Record<AdapterMethod, { groupPooled: boolean }> = {
  lora: { groupPooled: false },
  'qa-lora': { groupPooled: true },
  'q-blora': { groupPooled: false },
  'qa-blora': { groupPooled: true },
  'qa-blora-authors': { groupPooled: false },
};
export const ADAPTER_METHODS = Object.keys(ADAPTERS) as AdapterMethod[];

/** The method that builds `adapter` adapters with or without IEC; an AdapterConfigError where there is none. */
export function methodFor(adapter: AdapterMethod, iec: boolean): MethodName {
  const m = METHOD_NAMES.find((name) => METHODS[name].adapter === adapter && METHODS[name].iec === iec);
  if (!m) throw new AdapterConfigError('iec', `'${adapter}'${iec ? ' with' : ' without'} IEC is not a method this library builds`);
  return m;
}

/** The method a set of adapters was built by. */
export function methodOf(set: Pick<AdapterSet, 'method' | 'config'>): MethodName {
  return methodFor(set.method, set.config.iec);
}

/** A method's adapters on `linears`, at their initialisation. A group-pooled method takes `groupSize` (the base's
 *  quantization group); IEC comes from the method. */
export function buildAdapters(rt: Runtime, linears: readonly AdaptableLinear[], method: MethodName, options: LoraOptions & { groupSize?: number | null }): AdapterSet {
  const row = (METHODS as Record<string, (typeof METHODS)[MethodName]>)[method];
  if (!row) throw new AdapterConfigError('method', `must be one of ${METHOD_NAMES.join(', ')}, got ${JSON.stringify(method)}`);
  const { groupSize, ...lora } = options;
  const opts = { ...lora, iec: row.iec };
  if (ADAPTERS[row.adapter].groupPooled && !groupSize) {
    throw new AdapterConfigError('groupSize', `${method} pools the base's quantization groups, and none was given (this base is not quantized: load it with quant, or pass groupSize)`);
  }
  switch (row.adapter) {
    case 'lora': return AdapterSet.lora(rt, linears, opts);
    case 'qa-lora': return AdapterSet.qaLora(rt, linears, { ...opts, groupSize: groupSize! });
    case 'qa-blora': return AdapterSet.blora(rt, linears, { ...opts, form: 'qa-blora', groupSize: groupSize! });
    default: return AdapterSet.blora(rt, linears, { ...opts, form: row.adapter });
  }
}
