// Typed errors of model loading. Each names the file and, where there is one, the tensor or field.

/** A model file is malformed, truncated, missing, or disagrees with config.json. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
  constructor(readonly file: string, message: string, readonly tensor?: string) {
    super(`${file}${tensor ? ` (${tensor})` : ''}: ${message}`);
  }
}

/** The config describes an architecture or option this library does not implement. */
export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
  constructor(readonly file: string, readonly field: string, message: string) {
    super(`${file}: ${field}: ${message}`);
  }
}
