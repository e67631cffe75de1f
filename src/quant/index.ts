// src/quant: quantized weight formats, packing, ICQ calibration, and GPU quantization.
export { QuantFormatError } from './errors';
export {
  bitsPerWeight, codeLevels, dequantize, dequantizeStats, doubleQuantizeStats, DQ_BLOCK, levelMidpoints, nfLevels, NF_OFFSET,
  packCodes, specKey, unpackCodes,
  validateShape, validateSpec, wordsPerRow, type Bits, type Calibration, type Codebook, type GroupSize, type QuantSpec,
} from './format';
export { entropyBits, entropyTable, ICQ_SIGMA, icqIntFactors, icqNfFactors } from './icq';
export { normalCdf, normalQuantile } from './normal';
export { freeQuantized, quantize, type QuantizedWeight } from './quantize';
export { blockStarts, joinProblem, joinRows, outputBlocks, partOffsets, quantizedShapes, rowQuantum, rowView, stackProblem, stackQuantized, type StackedWeight } from './stack';
