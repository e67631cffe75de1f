/** An adapter option or an imported adapter does not fit: names the field (and the tensor where there is one). */
export class AdapterConfigError extends Error {
  override name = 'AdapterConfigError';
  constructor(readonly field: string, message: string) {
    super(`adapter '${field}': ${message}`);
  }
}
