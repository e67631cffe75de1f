// Streaming safetensors reader: 8-byte little-endian header length, a JSON header, then the tensors'
// bytes. Tensors are yielded in file order as soon as their bytes have arrived, floats converted to f32 (U32, which
// our quantized export writes for packed codes, as Uint32Array); only one tensor's bytes are held at a time, never
// the whole file.
import { ModelFormatError } from './errors';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'U32';
const DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, U32: 4 };

/** The header can be large for sharded models with many tensors, but not this large. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range within the data section (after the header). */
  begin: number;
  end: number;
}

export type SafetensorsTensor = SafetensorsEntry & ({ dtype: 'F32' | 'F16' | 'BF16'; data: Float32Array } | { dtype: 'U32'; data: Uint32Array });

/** A float tensor's values; a U32 tensor where floats belong is a format error naming it. */
export function floatData(t: SafetensorsTensor, file: string): Float32Array {
  if (t.dtype === 'U32') throw new ModelFormatError(file, 'is U32 where a float tensor belongs', t.name);
  return t.data;
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;
  consumed = 0;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>, private readonly onBytes: (n: number) => void) {}

  /** Fills `out` from the stream; returns how many bytes it got (fewer only at end of stream). */
  async fill(out: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < out.length) {
      if (this.at === this.chunk.length) {
        const { done, value } = await this.reader.read();
        if (done) break;
        this.chunk = value;
        this.at = 0;
        this.onBytes(value.length);
        continue;
      }
      const n = Math.min(out.length - filled, this.chunk.length - this.at);
      out.set(this.chunk.subarray(this.at, this.at + n), filled);
      this.at += n;
      filled += n;
    }
    this.consumed += filled;
    return filled;
  }

  async skip(bytes: number): Promise<number> {
    let skipped = 0;
    const scratch = new Uint8Array(Math.min(bytes, 1 << 20));
    while (skipped < bytes) {
      const n = await this.fill(scratch.subarray(0, Math.min(scratch.length, bytes - skipped)));
      skipped += n;
      if (n === 0) break;
    }
    return skipped;
  }
}

export function parseSafetensorsHeader(json: unknown, file: string, dataBytes: number | null): SafetensorsEntry[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFormatError(file, 'header is not a JSON object');
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!(typeof e.dtype === 'string' && e.dtype in DTYPE_BYTES)) {
      throw new ModelFormatError(file, `dtype ${JSON.stringify(e.dtype)} is not supported (F32, F16, BF16 and U32 are)`, name);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ModelFormatError(file, 'bad shape in header', name);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new ModelFormatError(file, 'bad data_offsets in header', name);
    }
    const [begin, end] = offsets as number[];
    const dtype = e.dtype as SafetensorsDType;
    const bytes = shape.reduce((a: number, d: number) => a * d, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== bytes) throw new ModelFormatError(file, `data_offsets span ${end - begin} bytes, but ${dtype} [${shape}] needs ${bytes}`, name);
    if (dataBytes !== null && end > dataBytes) throw new ModelFormatError(file, `data ends at byte ${end}, past the file's ${dataBytes} data bytes (truncated?)`, name);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  // The format asks the tensors to cover the data section exactly, without holes: a header length a few bytes
  // short still parses (the header is space-padded) but shifts every tensor, and this is how it shows.
  let covered = 0;
  for (const e of entries) {
    if (e.begin < covered) throw new ModelFormatError(file, `data_offsets [${e.begin}, ${e.end}] overlap the previous tensor's (which ends at ${covered})`, e.name);
    if (e.begin > covered) throw new ModelFormatError(file, `data_offsets leave bytes ${covered}…${e.begin} of the data section to no tensor`, e.name);
    covered = e.end;
  }
  if (dataBytes !== null && covered !== dataBytes) {
    throw new ModelFormatError(file, `the header's tensors cover ${covered} bytes, the data section holds ${dataBytes} (a wrong header length, or bytes after the last tensor)`);
  }
  return entries;
}

function toF32(bytes: Uint8Array, dtype: 'F32' | 'F16' | 'BF16'): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

function toU32(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint32Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getUint32(4 * i, true));
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Yields the header's entries first (as `entries`), then each tensor as its bytes arrive.
 * `totalBytes` (when known) lets the header be checked against the file size before any data is read.
 */
export async function* readSafetensors(
  stream: ReadableStream<Uint8Array>, file: string, totalBytes: number | null = null, onBytes: (n: number) => void = () => {},
): AsyncGenerator<SafetensorsTensor, void, void> {
  const reader = stream.getReader();
  const bytes = new ByteReader(reader, onBytes);
  try {
    const lengthBytes = new Uint8Array(8);
    if ((await bytes.fill(lengthBytes)) < 8) throw new ModelFormatError(file, 'file is shorter than the 8-byte header length');
    const view = new DataView(lengthBytes.buffer);
    const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
    if (headerLength > MAX_HEADER_BYTES || (totalBytes !== null && 8 + headerLength > totalBytes)) {
      throw new ModelFormatError(file, `header length ${headerLength} is implausible for a file of ${totalBytes ?? 'unknown'} bytes (not a safetensors file?)`);
    }
    const headerBytes = new Uint8Array(headerLength);
    if ((await bytes.fill(headerBytes)) < headerLength) throw new ModelFormatError(file, 'truncated inside the header');
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(headerBytes));
    } catch (e) {
      throw new ModelFormatError(file, `header is not valid JSON (${(e as Error).message})`);
    }
    const entries = parseSafetensorsHeader(json, file, totalBytes === null ? null : totalBytes - 8 - headerLength);
    let position = 0;
    for (const entry of entries) {
      if (entry.begin > position) position += await bytes.skip(entry.begin - position);
      const data = new Uint8Array(entry.end - entry.begin);
      const got = await bytes.fill(data);
      if (got < data.length) {
        throw new ModelFormatError(file, `truncated: the data ends ${position + got} bytes in, the tensor needs bytes up to ${entry.end}`, entry.name);
      }
      position = entry.end;
      if (entry.dtype === 'U32') yield { ...entry, dtype: 'U32', data: toU32(data) };
      else yield { ...entry, dtype: entry.dtype, data: toF32(data, entry.dtype) };
    }
    if (totalBytes === null && (await bytes.fill(new Uint8Array(1))) > 0) {
      throw new ModelFormatError(file, `bytes follow the last tensor, which ends at data byte ${position} (a wrong header length?)`);
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
