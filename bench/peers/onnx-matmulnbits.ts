// A one-node ONNX model of onnxruntime's 4-bit `MatMulNBits` (com.microsoft): Y[M, N] = A[M, K] · Ŵᵀ with Ŵ [N, K]
// stored as 4-bit codes in blocks of `blockSize` along K, an f32 scale and a 4-bit zero point per block:
// ŵ = (q − zp) · scale. That is our int4 format at G = blockSize (ŵ = s·q + o) with the offset as a zero point, so the
// peer does the same work on the same shapes. The weights are initializers (as in an exported model); A is the input.
// Written as protobuf bytes by hand (onnx.proto's field numbers below) so no ONNX tooling is needed to make it.

class Proto {
  // Chunks, not one number[]: a GPU-sized weight is tens of MB.
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private varint(v: number): void {
    const b: number[] = [];
    while (v >= 0x80) {
      b.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    b.push(v);
    this.push(Uint8Array.from(b));
  }

  int(field: number, v: number): this {
    this.varint(field * 8);
    this.varint(v);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Proto): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

const FLOAT = 1;
const UINT8 = 2;
const FLOAT16 = 10;

/** IEEE half bits of an f32 (round to nearest even; no NaN payloads needed here). */
export function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (exp << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** The f32 value of IEEE half bits. */
export function fromHalf(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

// TensorProto: dims 1, data_type 2, name 8, raw_data 9.
const tensor = (name: string, type: number, dims: number[], raw: Uint8Array) => {
  const t = new Proto();
  for (const d of dims) t.int(1, d);
  return t.int(2, type).str(8, name).bytes(9, raw);
};

// ValueInfoProto { name 1, type 2: TypeProto { tensor_type 1: { elem_type 1, shape 2: { dim 1: { dim_value 1 } } } } }.
const valueInfo = (name: string, type: number, dims: number[]) => {
  const shape = new Proto();
  for (const d of dims) shape.msg(1, new Proto().int(1, d));
  return new Proto().str(1, name).msg(2, new Proto().msg(1, new Proto().int(1, type).msg(2, shape)));
};

// AttributeProto { name 1, i 3, type 20 (INT = 2) }.
const intAttribute = (name: string, v: number) => new Proto().str(1, name).int(3, v).int(20, 2);

/** Seeded bytes (an LCG), so every run times the same weights. */
function seededBytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

export interface MatMulNBitsWeights {
  /** [N, K / blockSize, blockSize / 2] bytes: code k of a block in byte k / 2, the low nibble first. */
  codes: Uint8Array;
  /** [N · K / blockSize] f32. */
  scales: Float32Array;
  /** [N · ceil(blocks / 2)] bytes: 4-bit zero points, two per byte, the low nibble first, each row padded to a byte. */
  zeroPoints: Uint8Array;
}

/** Seeded random weights in MatMulNBits' layout (scales in [0.001, 0.01)). */
export function randomMatMulNBitsWeights(N: number, K: number, blockSize: number, seed = 1): MatMulNBitsWeights {
  const blocks = K / blockSize;
  const scales = new Float32Array(N * blocks);
  const r = seededBytes(scales.length, seed + 1);
  for (let i = 0; i < scales.length; i++) scales[i] = 0.001 + (0.009 * r[i]) / 256;
  return { codes: seededBytes((N * K) / 2, seed), scales, zeroPoints: seededBytes(N * Math.ceil(blocks / 2), seed + 2) };
}

/** The dense Ŵ [N, K] these weights stand for (the peer's output is checked against A · Ŵᵀ). */
export function dequantizeMatMulNBits(w: MatMulNBitsWeights, N: number, K: number, blockSize: number): Float32Array {
  const blocks = K / blockSize;
  const zpRow = Math.ceil(blocks / 2);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const byte = w.codes[(n * K + k) >> 1];
      const q = k & 1 ? byte >> 4 : byte & 15;
      const b = Math.floor(k / blockSize);
      const zByte = w.zeroPoints[n * zpRow + (b >> 1)];
      const zp = b & 1 ? zByte >> 4 : zByte & 15;
      out[n * K + k] = (q - zp) * w.scales[n * blocks + b];
    }
  }
  return out;
}

/** The ONNX model bytes: one MatMulNBits node, input 'A' [M, K], output 'Y' [M, N] and the scales in f32, or all
 *  three in f16 (`half`: how ORT runs LLMs on WebGPU; the scales are then rounded to f16). */
export function matMulNBitsModel(M: number, N: number, K: number, blockSize: number, w: MatMulNBitsWeights, half = false): Uint8Array {
  if (K % blockSize !== 0 || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new RangeError(`MatMulNBits: K ${K} must be a multiple of the block size ${blockSize}, a power of two ≥ 16`);
  }
  const blocks = K / blockSize;
  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7.
  const node = new Proto().str(1, 'A').str(1, 'B').str(1, 'scales').str(1, 'zero_points').str(2, 'Y')
    .str(3, 'matmul').str(4, 'MatMulNBits')
    .msg(5, intAttribute('K', K)).msg(5, intAttribute('N', N)).msg(5, intAttribute('bits', 4)).msg(5, intAttribute('block_size', blockSize))
    .str(7, 'com.microsoft');
  // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
  const graph = new Proto().msg(1, node).str(2, 'matmulnbits')
    .msg(5, tensor('B', UINT8, [N, blocks, blockSize / 2], w.codes))
    .msg(5, half
      ? tensor('scales', FLOAT16, [N * blocks], new Uint8Array(Uint16Array.from(w.scales, toHalf).buffer))
      : tensor('scales', FLOAT, [N * blocks], new Uint8Array(w.scales.buffer, w.scales.byteOffset, w.scales.byteLength)))
    .msg(5, tensor('zero_points', UINT8, [w.zeroPoints.length], w.zeroPoints))
    .msg(11, valueInfo('A', half ? FLOAT16 : FLOAT, [M, K])).msg(12, valueInfo('Y', half ? FLOAT16 : FLOAT, [M, N]));
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 ({ domain 1, version 2 }).
  return new Proto().int(1, 8).str(2, 'qlora-web bench').msg(7, graph)
    .msg(8, new Proto().str(1, '').int(2, 17)).msg(8, new Proto().str(1, 'com.microsoft').int(2, 1))
    .finish();
}
