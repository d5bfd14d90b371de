// Dataset import jobs (admin): an uploaded zip or parquet file staged by the route, or a dataset repo
// fetched from the Hugging Face hub into the HF cache, imported into a stored dataset. They run in
// the process that holds the datasets (the API node), with or without Redis. Progress is the share
// of entries done; the result lists what was added and what was skipped, with reasons.
import { folderTree, type FileTree, listFolder } from "../../datasets/archive.js";
import { openUpload, planNonEmptyImport, runImport } from "../../datasets/import.js";
import type { ImportStaging } from "../../datasets/staging.js";
import type { DatasetStore } from "../../datasets/store.js";
import { downloadDataset, HubError, type HubOptions, isDatasetFile, resolveCachedSnapshot } from "../../hub/index.js";
import type { ServerLimits } from "../config.js";
import type { Job, JobQueue } from "../queue/types.js";
import type { JobHandlerSpec } from "./handlers.js";
import { DATASET_IMPORT_JOB, type DatasetImportSource } from "./kinds.js";

/** Largest metadata file (or parquet file inside a zip) an import reads whole. */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;

export interface DatasetImportDeps {
  store: DatasetStore;
  staging: ImportStaging;
  limits: Pick<ServerLimits, "maxUploadBytes" | "maxPixels">;
  hub?: HubOptions;
  allowDownloads: boolean;
}

export function datasetImportJobs(deps: DatasetImportDeps): JobHandlerSpec<typeof DATASET_IMPORT_JOB> {
  return {
    kind: DATASET_IMPORT_JOB,
    handle: async (job, ctx) => {
      const { dataset, source, split } = job.payload;
      deps.store.requireDataset(dataset);
      try {
        const { tree, commit } = await openSource(deps, source);
        try {
          const plan = await planNonEmptyImport(tree, { maxMetadataBytes: MAX_METADATA_BYTES }, source.kind === "hub" ? `dataset repo ${source.repo}` : "the upload");
          const result = await runImport(deps.store, dataset, tree, plan, {
            maxImageBytes: deps.limits.maxUploadBytes,
            maxPixels: deps.limits.maxPixels,
            maxMetadataBytes: MAX_METADATA_BYTES,
            split,
            signal: ctx.signal,
            onProgress: (done, total) => ctx.progress(total === 0 ? 1 : done / total),
          });
          return { dataset, ...(commit && { commit }), ...result };
        } finally {
          await tree.close();
        }
      } finally {
        // The staged upload is spent whatever happened (a failed job is re-submitted with a new upload).
        if (source.kind === "upload") await deps.staging.remove(source.staged);
      }
    },
  };
}

/** The staged upload a job imports, if it is an upload import (else null). */
export function stagedUpload(job: Pick<Job, "kind" | "payload">): string | null {
  if (job.kind !== DATASET_IMPORT_JOB) return null;
  const source = (job.payload as { source?: DatasetImportSource } | null)?.source;
  return source?.kind === "upload" ? source.staged : null;
}

/** At startup: staged uploads no queued or running import job will read are deleted (see ImportStaging.sweep). */
export async function sweepStagedUploads(queue: JobQueue, staging: ImportStaging): Promise<string[]> {
  const inUse = new Set<string>();
  for (const state of ["queued", "running"] as const) {
    for (const job of await queue.list({ kind: DATASET_IMPORT_JOB, state, limit: 1_000_000 })) {
      const staged = stagedUpload(job);
      if (staged) inUse.add(staged);
    }
  }
  return staging.sweep(inUse);
}

async function openSource(deps: DatasetImportDeps, source: DatasetImportSource): Promise<{ tree: FileTree; commit?: string }> {
  if (source.kind === "upload") {
    const file = deps.staging.file(source.staged);
    return { tree: await openUpload(file, await deps.staging.head(source.staged), source.fileName) };
  }
  const snapshot = await hubSnapshot(deps, source.repo, source.revision);
  return { tree: folderTree(snapshot, listFolder(snapshot).filter(isDatasetFile)), commit: snapshot.split(/[\\/]/).pop() };
}

/** The repo's snapshot in the HF cache: downloaded (data files only) when downloads are allowed, else the cached one. */
async function hubSnapshot(deps: Pick<DatasetImportDeps, "hub" | "allowDownloads">, repo: string, revision?: string): Promise<string> {
  if (deps.allowDownloads) return downloadDataset(repo, { ...deps.hub, revision });
  const cached = resolveCachedSnapshot(repo, revision, { ...deps.hub, repoType: "dataset" });
  if (cached === null) throw new HubError(`dataset ${repo}@${revision ?? "main"} is not in the Hugging Face cache and downloads are off (allowDownloads)`);
  return cached;
}
