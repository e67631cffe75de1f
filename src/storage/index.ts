// IndexedDB storage: the model cache, loading through it, and training checkpoints.
export { cacheKey, loadCachedModel } from './cached-load';
export { checkpointFiles, checkpointFromFiles, datasetFingerprint, loadCheckpoint, saveCheckpoint, type CheckpointOptions, type RunState } from './checkpoints';
export { StorageQuotaError } from './errors';
export { CACHE_FORMAT_VERSION, ModelCache, type CacheEntryInfo, type CacheManifest, type CacheProblem, type ModelCacheOptions } from './model-cache';
