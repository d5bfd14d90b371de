// The Hugging Face hub and its local cache: resolving model sources and downloading snapshots.
export {
  HubError,
  type HubOptions,
  type HubSettings,
  type RepoType,
  DEFAULT_ENDPOINT,
  DEFAULT_REVISION,
  hubSettingsFromEnv,
  resolveHubSettings,
  repoCacheDir,
  resolveCachedSnapshot,
  resolveModelSource,
  validateRepoId,
  isRepoId,
  isCommitHash,
  withBlobLock,
} from "./cache.js";
export { type DownloadOptions, HubNetworkError, checkpointFiles, datasetFiles, downloadDataset, isDatasetFile, downloadModel, ensureModelFolder } from "./download.js";
