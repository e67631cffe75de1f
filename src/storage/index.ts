// IndexedDB storage: the model cache and loading through it.
export { cacheKey, loadCachedModel } from './cached-load';
export { StorageQuotaError } from './errors';
export { CACHE_FORMAT_VERSION, ModelCache, type CacheEntryInfo, type CacheManifest, type CacheProblem, type ModelCacheOptions } from './model-cache';
