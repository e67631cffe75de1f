/** A dataset that cannot be trained on: names the source (file, line) and the field. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(readonly source: string, readonly field: string | null, message: string) {
    super(`${source}${field ? ` '${field}'` : ''}: ${message}`);
  }
}

/** A training option out of range, a step that went non-finite (names the step and the tensor), or a run whose loss
 *  exploded (`diverged`; `step` is the first step of the rise). */
export class TrainingError extends Error {
  override name = 'TrainingError';
  constructor(message: string, readonly step: number | null = null, readonly tensor: string | null = null, readonly diverged = false) {
    super(message);
  }
}
