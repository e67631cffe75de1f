/** A quantization spec, a weight's shape, or a weight's values that cannot be quantized. Names the tensor or option. */
export class QuantFormatError extends Error {
  override name = 'QuantFormatError';
}
