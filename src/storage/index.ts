// IndexedDB storage: the model cache, loading through it, and training checkpoints.
export { cacheKey, loadCachedModel, type CachedLoadOptions } from './cached-load';
export { checkpointFiles, checkpointFromFiles, datasetFingerprint, loadCheckpoint, saveCheckpoint, type CheckpointOptions, type RunState } from './checkpoints';
export { StorageError, StorageQuotaError } from './errors';
export { CACHE_FORMAT_VERSION, ModelCache, type CacheEntryInfo, type CacheManifest, type CacheProblem, type ModelCacheOptions } from './model-cache';
