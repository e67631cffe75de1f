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

/** A source could not deliver a file: names the URL, the HTTP status (null for a network or CORS failure) and what
 *  to do about it. A missing file (404) is not an error here: the source answers null and the loader says which. */
export class SourceError extends Error {
  override name = 'SourceError';
  constructor(readonly url: string, readonly status: number | null, message: string) {
    super(`${url}: ${message}`);
  }
}
