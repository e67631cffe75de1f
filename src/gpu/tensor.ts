// A Tensor is a view of a GPU buffer: shape, element type and byte offset. It owns no memory policy;
// the Runtime's pool decides where the buffer comes from and where it goes back.
import { ShapeError } from './errors';

export type DType = 'f32' | 'u32' | 'i32';

export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Byte offset of element 0 in `buffer`; a multiple of the device's minStorageBufferOffsetAlignment. */
  readonly byteOffset: number;
  readonly label: string;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, u32: 4, i32: 4 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteLength(t: Pick<Tensor, 'shape' | 'dtype'>): number {
  return numel(t.shape) * BYTES_PER_ELEMENT[t.dtype];
}

export function checkShape(shape: readonly number[], what: string): void {
  if (shape.length === 0) throw new ShapeError(`${what}: a tensor needs at least one dimension`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) throw new ShapeError(`${what}: dimensions must be positive integers, got [${shape.join(', ')}]`);
  }
}

/**
 * Checks a tensor against an expected shape; `-1` in `expected` matches any size.
 * Throws a ShapeError naming the op and the tensor.
 */
export function expectShape(t: Tensor, expected: readonly number[], op: string, dtype: DType = 'f32'): void {
  const ok =
    t.shape.length === expected.length && t.shape.every((d, i) => expected[i] === -1 || expected[i] === d);
  if (!ok) {
    throw new ShapeError(
      `${op}: tensor '${t.label}' has shape [${t.shape.join(', ')}], expected [${expected.map((d) => (d === -1 ? '*' : d)).join(', ')}]`,
    );
  }
  if (t.dtype !== dtype) throw new ShapeError(`${op}: tensor '${t.label}' is ${t.dtype}, expected ${dtype}`);
}

/** The same buffer and bytes under another shape of equal element count. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) {
    throw new ShapeError(`reshape: '${t.label}' [${t.shape.join(', ')}] has ${numel(t.shape)} elements, [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  return { ...t, shape: [...shape] };
}
