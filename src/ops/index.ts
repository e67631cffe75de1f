// src/ops: one file per op, forward (and, where the model needs it, backward) launches side by side.
// Each op checks shapes at its boundary and records into a Step; none submits.
export { add, copy4, mul, scale } from './elementwise';
export { grid1d } from './grid';
export { matmul, matmulOutputShape, recordGemm, type GemmDims, type MatmulOptions } from './matmul';
export { rowMax, rowSum } from './reduce';
