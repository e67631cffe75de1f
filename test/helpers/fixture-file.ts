// A committed fixture file as a Blob: fetched from the Vite server in Chromium, read from disk in Node. The library
// is imported statically: bundled for the GPU machine, a dynamic import of it may resolve to the chunk of another
// entry (scripts/reference/peft-export.ts) and run that script.
import { floatData, readSafetensors } from '../../src/model';
import { tokenizedDataset } from '../../src/train';
const inBrowser = typeof window !== 'undefined';

export async function fixtureBlob(path: string): Promise<Blob> {
  if (inBrowser) {
    const response = await fetch(`/${path}`);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.blob();
  }
  const fs = (await import(/* @vite-ignore */ ['node', 'fs'].join(':'))) as typeof import('node:fs');
  return fs.openAsBlob(path);
}

export type FixtureTensors = Map<string, { shape: number[]; data: Float32Array }>;

/** A committed safetensors fixture, every tensor as f32 by name. */
export async function readFixture(path: string): Promise<FixtureTensors> {
  const blob = await fixtureBlob(path);
  const out: FixtureTensors = new Map();
  for await (const t of readSafetensors(blob.stream() as ReadableStream<Uint8Array>, path, blob.size)) out.set(t.name, { shape: t.shape, data: floatData(t, path) });
  return out;
}

/** The training fixtures' batch (input_ids, attention_mask, labels) as a dataset of its rows. */
export async function fixtureDataset(fx: FixtureTensors) {
  const [B, T] = fx.get('input_ids')!.shape;
  const row = (name: string, b: number) => Array.from(fx.get(name)!.data.subarray(b * T, (b + 1) * T));
  const rows = Array.from({ length: B }, (_, b) => ({ input_ids: row('input_ids', b), attention_mask: row('attention_mask', b), labels: row('labels', b) }));
  return { B, T, dataset: tokenizedDataset(rows, { seqLen: T, name: 'fixture' }) };
}
