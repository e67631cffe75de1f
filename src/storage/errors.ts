/** The browser's storage cannot hold what is being cached: says how many bytes were needed and were available. */
export class StorageQuotaError extends Error {
  override name = 'StorageQuotaError';
  constructor(readonly neededBytes: number, readonly availableBytes: number | null, message: string) {
    super(message);
  }
}

/** A bad argument to the storage layer (a cache key, a chunk size) or a stored record (a cache entry's manifest, a
 *  checkpoint's run.json) that is missing, cut short or of the wrong shape. `field` names the option or the record. */
export class StorageError extends Error {
  override name = 'StorageError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}
