// Buffer pool: GPU allocations are slow and fragment memory, so buffers are recycled by size class.
// Classes step by a quarter octave (256 B, 320 B, 384 B, 448 B, 512 B, ...), so at most 25 % is wasted.
// Reuse is safe as soon as a buffer is released: the queue runs submitted work in order, so a later
// step's writes land after every earlier step's reads.
import { LimitError } from './errors';

const MIN_CLASS_BYTES = 256;

export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS_BYTES) return MIN_CLASS_BYTES;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const quarter = octave / 4;
  return Math.ceil(bytes / quarter) * quarter;
}

export interface PoolStats {
  /** Bytes held by the pool, in use or free. */
  bytesAllocated: number;
  bytesInUse: number;
  /** Acquisitions served from a free buffer / by a new allocation. */
  reused: number;
  created: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly inUse = new Set<GPUBuffer>();
  readonly stats: PoolStats = { bytesAllocated: 0, bytesInUse: 0, reused: 0, created: 0 };

  /** `maxBufferSize`: the largest buffer handed out (the device's limit, or the runtime's lower one). */
  constructor(private readonly device: GPUDevice, private readonly maxBufferSize = device.limits.maxBufferSize) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = ''): GPUBuffer {
    const max = this.maxBufferSize;
    let size = sizeClass(bytes);
    // Near the limit a size class can pass it when the bytes themselves fit: those get a buffer of their own size.
    if (size > max) size = Math.ceil(bytes / 4) * 4;
    if (size > max) throw new LimitError('maxBufferSize', size, max, label || 'buffer');
    const key = `${usage}:${size}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.stats.reused++;
    } else {
      buffer = this.device.createBuffer({ size, usage, label });
      this.stats.created++;
      this.stats.bytesAllocated += size;
    }
    this.inUse.add(buffer);
    this.stats.bytesInUse += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.inUse.delete(buffer)) throw new Error(`buffer '${buffer.label}' released twice or not from this pool`);
    this.stats.bytesInUse -= buffer.size;
    const key = `${buffer.usage}:${buffer.size}`;
    const list = this.free.get(key);
    if (list) list.push(buffer);
    else this.free.set(key, [buffer]);
  }

  /** Destroys every free buffer (memory pressure, or between models). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.bytesAllocated -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
  }

  destroy(): void {
    this.trim();
    for (const b of this.inUse) b.destroy();
    this.inUse.clear();
    this.stats.bytesAllocated = 0;
    this.stats.bytesInUse = 0;
  }
}
