// Tests build well-formed and malformed files with the library's writer; the fixture script's dequantize step
// writes models with it.
export { writeSafetensors, type NamedTensor } from '../../src/model/safetensors-write';
