// Reads every tensor of a small safetensors file into float32 (f32, f16, bf16), for benchmarks only.
// (The model loader proper streams shards and never holds a whole model; see the model issue.)
import { readFileSync } from 'node:fs';

export function readSafetensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets;
    const raw = bytes.subarray(base + start, base + end);
    const n = info.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const u32 = new Uint32Array(data.buffer);
    if (info.dtype === 'BF16') {
      for (let i = 0; i < n; i++) u32[i] = raw.readUInt16LE(2 * i) << 16;
    } else if (info.dtype === 'F32') {
      for (let i = 0; i < n; i++) data[i] = raw.readFloatLE(4 * i);
    } else if (info.dtype === 'F16') {
      for (let i = 0; i < n; i++) {
        const h = raw.readUInt16LE(2 * i);
        const e = (h >> 10) & 31;
        const m = h & 1023;
        const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
        data[i] = h & 0x8000 ? -v : v;
      }
    } else {
      throw new Error(`${path}: tensor '${name}' has dtype ${info.dtype}, which this reader does not handle`);
    }
    out.set(name, { shape: info.shape, data });
  }
  return out;
}
