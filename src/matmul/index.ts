// src/matmul: the matmul family in one place, dense and quantized: C = op(A)·op(B) in f32 (dense.ts), Y = X·Ŵᵀ and
// dX = dY·Ŵ with Ŵ dequantized inside the kernels (quantized.ts), how their GEMV and GEMM launches are recorded
// (launch.ts), the quantized GEMMs on the f16 matrix units (matrix-units.ts), a quantized embedding's rows (gather.ts) and their WGSL, shaders/matmul/ (wgsl.ts).
export { DENSE_GEMV_MAX_ROWS, matmul, matmulOutputShape, type MatmulOptions } from './dense';
export { GEMV_MAX_ROWS, quantMatmul, quantMatmulBackward, type QuantMatmulOptions } from './quantized';
export { recordGemm, type GemmDims, type GemmTiles } from './launch';
export { quantGather } from './gather';
export { weightBindings } from './quantized-format';
export {
  DEFAULT_MATRIX_TILES, f16ProductBound, freeMatrixRows, prepareMatrixPath, prepareMatrixRows, recordMatrixGemm, seededCodesWeight, worstOverF16Bound,
  type MatrixRows, type MatrixTiles,
} from './matrix-units';
