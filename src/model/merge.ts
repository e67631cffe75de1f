// Folding a mergeable adapter (QA-LoRA) into the model's quantized weights: afterwards the model alone computes what
// model + adapter computed, with no adapter. Every adapted linear is checked before any weight changes.
import { ADAPTERS, AdapterConfigError, type AdapterModule, type AdapterSet } from '../adapters';
import type { QuantizedWeight } from '../quant';
import { baseFingerprint } from './fingerprint';
import { firstQuantized, type LinearWeight } from './linear';
import { linearName, type LlamaModel } from './llama';
import { LINEARS } from './weights';

/**
 * Refuses a group-pooled method (QA-LoRA, our QA-BLoRA) on a base whose adapted linears are quantized in other groups,
 * naming the method, the layer and the sizes: train() calls it before the first step, so a run that could never merge
 * fails at once rather than after training. (An f32 base trains, as the parity tests do; it has nothing to merge into.)
 */
export function checkPooling(model: LlamaModel, adapters: AdapterSet): void {
  if (!ADAPTERS[adapters.method].groupPooled) return;
  for (const { name, w } of adapted(model, adapters)) {
    const q = firstQuantized(w);
    if (q && q.spec.groupSize !== adapters.groupSize) {
      throw new AdapterConfigError('groupSize', `'${adapters.method}' pools groups of ${adapters.groupSize}, but ${name} [${w.out}, ${w.in}] is quantized in groups of ${q.spec.groupSize}: build it with groupSize ${q.spec.groupSize}`);
    }
  }
}

/** Each linear of the model the set adapts, with its module and weight, in layer order. */
function* adapted(model: LlamaModel, adapters: AdapterSet): Generator<{ name: string; module: AdapterModule; w: LinearWeight }> {
  for (const [l, layer] of model.weights.layers.entries()) {
    for (const key of LINEARS) {
      const name = linearName(l, key);
      const module = adapters.get(name);
      if (module) yield { name, module, w: layer[key] };
    }
  }
}

export async function mergeAdapters(model: LlamaModel, adapters: AdapterSet): Promise<void> {
  if (adapters.base) {
    const base = await baseFingerprint(model);
    if (base !== adapters.base) {
      throw new AdapterConfigError('base', `the adapters were trained on another base (fingerprint ${adapters.base.slice(0, 12)}…, this model's ${base.slice(0, 12)}…): merging them would give a wrong model`);
    }
  }
  const plan: [AdapterModule, QuantizedWeight][] = [];
  for (const { name, module, w } of adapted(model, adapters)) {
    if (!module.merge) throw new AdapterConfigError('method', `'${adapters.method}' cannot merge into per-group offsets (${name}); QA-LoRA can`);
    if (module.mergeBlocker) throw new AdapterConfigError('iec', `'${adapters.method}' with IEC cannot merge exactly: ${module.mergeBlocker}`);
    if (w.kind === 'blocks') throw new AdapterConfigError('base', `${name} is split into ${w.parts.length} row blocks (it exceeds a buffer limit of this device): merging into a split weight is not supported`);
    if (w.kind !== 'quantized') throw new AdapterConfigError('base', `${name} is not quantized: there are no offsets to merge into`);
    const spec = w.weight.spec;
    if (spec.doubleQuant) throw new AdapterConfigError('base', `${name} stores its statistics double-quantized (8-bit): merged offsets would be rounded`);
    if (spec.groupSize !== adapters.groupSize) {
      throw new AdapterConfigError('groupSize', `${name} is quantized in groups of ${spec.groupSize}, the adapter pools groups of ${adapters.groupSize}`);
    }
    if (w.out !== module.outFeatures || w.in !== module.inFeatures) {
      throw new AdapterConfigError('shape', `${name} is [${w.out}, ${w.in}], the adapter's module is [${module.outFeatures}, ${module.inFeatures}]`);
    }
    plan.push([module, w.weight]);
  }
  if (!plan.length) throw new AdapterConfigError('targets', `the adapters adapt none of this model's linears (they hold ${adapters.targets.slice(0, 2).join(', ') || 'nothing'}…)`);
  const rt = model.rt;
  // Folded into the offsets, one non-finite value would corrupt the base for good.
  const values = (await rt.read(adapters.store.buffers.params)) as Float32Array;
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new AdapterConfigError('adapters', `${adapters.store.nameAt(bad)} holds a non-finite value: merging it would corrupt the base's offsets`);
  const step = rt.step();
  for (const [module, weight] of plan) await module.merge!(rt, step, weight);
  step.submit();
  await rt.sync();
  const c = adapters.config;
  model.merges.push({ method: adapters.method, rank: c.rank, alpha: c.alpha, groupSize: adapters.groupSize, iec: c.iec });
  if (model.adapters === adapters) model.adapters = null;
}
