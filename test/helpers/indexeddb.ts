// IndexedDB for the storage tests: Chromium's own, or fake-indexeddb's in Node (which has none).
export async function ensureIndexedDb(): Promise<void> {
  if (typeof indexedDB !== 'undefined') return;
  const fake = await import('fake-indexeddb');
  Object.assign(globalThis, { indexedDB: fake.indexedDB, IDBKeyRange: fake.IDBKeyRange });
}
