// Builds the bytes of a WGSL uniform struct whose fields are all 4-byte scalars (u32, i32, f32),
// in declaration order. Kernels keep their Params structs to such fields so no padding rules apply.
export class Uniforms {
  private readonly view: DataView;
  private offset = 0;

  constructor(fieldCount: number) {
    this.view = new DataView(new ArrayBuffer(Math.max(16, Math.ceil(fieldCount / 4) * 16)));
  }

  u32(value: number): this {
    this.view.setUint32(this.offset, value, true);
    this.offset += 4;
    return this;
  }

  f32(value: number): this {
    this.view.setFloat32(this.offset, value, true);
    this.offset += 4;
    return this;
  }

  get bytes(): Uint8Array {
    return new Uint8Array(this.view.buffer);
  }
}

/** Uniform bytes for a struct of u32 fields. */
export function u32Params(...values: number[]): Uint8Array {
  const u = new Uniforms(values.length);
  for (const v of values) u.u32(v);
  return u.bytes;
}
