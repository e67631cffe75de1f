/** The browser's storage cannot hold what is being cached: says how many bytes were needed and were available. */
export class StorageQuotaError extends Error {
  override name = 'StorageQuotaError';
  constructor(readonly neededBytes: number, readonly availableBytes: number | null, message: string) {
    super(message);
  }
}
