// What identifies a base model for its adapters: a SHA-256 over its config, each linear's format and the first
// values of its codes and statistics (or f32 weights), and of the embedding. One small read per tensor; any other
// checkpoint, quantization or merge gives another fingerprint.
import type { Tensor } from '../gpu';
import type { LinearWeight } from './linear';
import type { LlamaModel } from './llama';
import { LINEARS } from './weights';

/** Values read from the start of each tensor. */
const SAMPLE = 1024;

function head(t: Tensor): Tensor {
  const n = t.shape.reduce((a, d) => a * d, 1);
  return { ...t, shape: [Math.min(n, SAMPLE)] };
}

export async function baseFingerprint(model: LlamaModel): Promise<string> {
  const rt = model.rt;
  const parts: Uint8Array[] = [new TextEncoder().encode(JSON.stringify(model.config))];
  const add = async (t: Tensor) => {
    const data = await rt.read(head(t));
    parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  };
  const linear = async (w: LinearWeight) => {
    if (w.kind === 'dense') return add(w.weight);
    parts.push(new TextEncoder().encode(JSON.stringify(w.weight.spec)));
    await add(w.weight.codes);
    await add(w.weight.stats);
  };
  await add(model.weights.embed);
  for (const layer of model.weights.layers) for (const key of LINEARS) await linear(layer[key]);
  await linear(model.weights.lmHead);
  const all = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}
