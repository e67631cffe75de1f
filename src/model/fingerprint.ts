// What identifies a base model for its adapters: a SHA-256 over its config, each linear's format and the first
// values of its codes and statistics (or f32 weights), and of the embedding. One small read per tensor; any other
// checkpoint, quantization or merge gives another fingerprint.
import { createSHA256 } from 'hash-wasm';
import { numel, type Tensor } from '../gpu';
import { pieces, type LinearWeight } from './linear';
import type { LlamaModel } from './llama';
import { LINEARS } from './weights';

/** Values read from the start of each tensor. */
const SAMPLE = 1024;

export async function baseFingerprint(model: LlamaModel): Promise<string> {
  const rt = model.rt;
  const hash = await createSHA256();
  hash.init();
  hash.update(JSON.stringify(model.config));
  const add = async (t: Tensor) => {
    const data = await rt.read({ ...t, shape: [Math.min(numel(t.shape), SAMPLE)] });
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  };
  // A weight split into row blocks hashes its first block: the same first values as the whole.
  const linear = async (w: LinearWeight) => {
    const [{ part }] = pieces(w);
    if (part.kind === 'dense') return add(part.weight);
    hash.update(JSON.stringify(part.weight.spec));
    await add(part.weight.codes);
    await add(part.weight.stats);
  };
  await linear(model.weights.embed);
  for (const layer of model.weights.layers) for (const key of LINEARS) await linear(layer[key]);
  await linear(model.weights.lmHead);
  return hash.digest('hex');
}
