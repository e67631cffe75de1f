// Writes tensors as a safetensors file: an 8-byte little-endian header length, the JSON header (padded with spaces
// so the data starts 8-byte aligned), then the tensors' bytes in order. f32 by default; U32 (packed codes) and F16 /
// BF16 (given as their 16-bit patterns) where a tensor names its dtype.
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array | Uint32Array | Uint16Array;
  /** Default 'F32' (data a Float32Array). */
  dtype?: 'F32' | 'U32' | 'F16' | 'BF16';
}

const BYTES = { F32: 4, U32: 4, F16: 2, BF16: 2 } as const;

/** The header of a file holding these tensors' data in order (their bytes written after it by the caller): the
 *  8-byte length, then the JSON padded with spaces so the data starts 8-byte aligned. */
export function safetensorsHeader(tensors: { name: string; shape: number[]; dtype: keyof typeof BYTES }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = BYTES[t.dtype] * t.shape.reduce((a, d) => a * d, 1);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(8 + json.length + ((8 - ((8 + json.length) % 8)) % 8)).fill(0x20, 8);
  new DataView(headerBytes.buffer).setBigUint64(0, BigInt(headerBytes.length - 8), true);
  headerBytes.set(json, 8);
  return headerBytes;
}

/** The file as parts (the header, then each tensor's bytes, not copied): for a Blob of a file too large for one array. */
export function safetensorsParts(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array[] {
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.BYTES_PER_ELEMENT !== BYTES[dtype] || t.data.length !== count) {
      throw new RangeError(`safetensors: '${t.name}' holds ${t.data.length} ${t.data.BYTES_PER_ELEMENT}-byte values for ${dtype} [${t.shape}]`);
    }
  }
  const header = safetensorsHeader(tensors.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype ?? 'F32' })), metadata);
  return [header, ...tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
}

export function writeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const parts = safetensorsParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Files of at most this many bytes: a Blob or ArrayBuffer past 2^31 bytes is refused by some runtimes (Node's Blob
 *  stops at 4 GiB, V8's ArrayBuffer at 2 GiB on some builds). */
export const MAX_SHARD_BYTES = 2e9;

/**
 * Tensors as safetensors files the way transformers shards them: one `model.safetensors` while everything fits
 * `maxBytes`, otherwise `model-0000i-of-0000n.safetensors` with `model.safetensors.index.json` (weight_map,
 * metadata.total_size). Each inner list of `groups` stays in one file (a quantized linear's codes and statistics).
 */
export function shardedSafetensors(groups: NamedTensor[][], metadata?: Record<string, string>, maxBytes = MAX_SHARD_BYTES): Record<string, Blob> {
  const bytes = (g: NamedTensor[]) => g.reduce((a, t) => a + t.data.byteLength, 0);
  const shards: NamedTensor[][] = [[]];
  let inShard = 0;
  for (const g of groups) {
    const n = bytes(g);
    if (inShard > 0 && inShard + n > maxBytes) (shards.push([]), (inShard = 0));
    shards[shards.length - 1].push(...g);
    inShard += n;
  }
  const blob = (tensors: NamedTensor[]) => new Blob(safetensorsParts(tensors, metadata) as BlobPart[]);
  if (shards.length === 1) return { 'model.safetensors': blob(shards[0]) };
  const files: Record<string, Blob> = {};
  const weightMap: Record<string, string> = {};
  const pad = (i: number) => String(i).padStart(5, '0');
  shards.forEach((tensors, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    files[name] = blob(tensors);
    for (const t of tensors) weightMap[t.name] = name;
  });
  const index = { metadata: { total_size: groups.reduce((a, g) => a + bytes(g), 0) }, weight_map: weightMap };
  files['model.safetensors.index.json'] = new Blob([JSON.stringify(index, null, 2) + '\n'], { type: 'application/json' });
  return files;
}
