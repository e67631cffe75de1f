// Reference elementwise ops.
export const addRef = (a: Float32Array, b: Float32Array) => a.map((x, i) => x + b[i]);
export const mulRef = (a: Float32Array, b: Float32Array) => a.map((x, i) => x * b[i]);
export const scaleRef = (a: Float32Array, alpha: number) => a.map((x) => alpha * x);
