// Folding a mergeable adapter (QA-LoRA) into the model's quantized weights: afterwards the model alone computes what
// model + adapter computed, with no adapter. Every adapted linear is checked before any weight changes.
import { AdapterConfigError, type AdapterModule, type AdapterSet } from '../adapters';
import type { QuantizedWeight } from '../quant';
import { baseFingerprint } from './fingerprint';
import { linearName, type LlamaModel } from './llama';
import { LINEARS } from './weights';

export async function mergeAdapters(model: LlamaModel, adapters: AdapterSet): Promise<void> {
  if (adapters.base) {
    const base = await baseFingerprint(model);
    if (base !== adapters.base) {
      throw new AdapterConfigError('base', `the adapters were trained on another base (fingerprint ${adapters.base.slice(0, 12)}…, this model's ${base.slice(0, 12)}…): merging them would give a wrong model`);
    }
  }
  const plan: [AdapterModule, QuantizedWeight][] = [];
  model.weights.layers.forEach((layer, l) => {
    for (const key of LINEARS) {
      const name = linearName(l, key);
      const module = adapters.get(name);
      if (!module) continue;
      if (!module.merge) throw new AdapterConfigError('method', `'${adapters.method}' cannot merge into per-group offsets (${name}); QA-LoRA can`);
      if (module.mergeBlocker) throw new AdapterConfigError('iec', `'${adapters.method}' with IEC cannot merge exactly: ${module.mergeBlocker}`);
      const w = layer[key];
      if (w.kind !== 'quantized') throw new AdapterConfigError('base', `${name} is not quantized: there are no offsets to merge into`);
      const spec = w.weight.spec;
      if (spec.doubleQuant) throw new AdapterConfigError('base', `${name} stores its statistics double-quantized (8-bit): merged offsets would be rounded`);
      if (spec.groupSize !== adapters.groupSize) {
        throw new AdapterConfigError('groupSize', `${name} is quantized in groups of ${spec.groupSize}, the adapter pools groups of ${adapters.groupSize}`);
      }
      plan.push([module, w.weight]);
    }
  });
  const rt = model.rt;
  const step = rt.step();
  for (const [module, weight] of plan) await module.merge!(rt, step, weight);
  step.submit();
  await rt.sync();
  const c = adapters.config;
  model.merges.push({ method: adapters.method, rank: c.rank, alpha: c.alpha, groupSize: adapters.groupSize, iec: c.iec });
  if (model.adapters === adapters) model.adapters = null;
}
