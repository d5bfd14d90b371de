// The job handlers each kind of process serves. The embedded server (`serve` without --redis) runs
// its jobs itself; a scale-out worker (`captioner worker`) runs the caption jobs API nodes enqueue.
// A new kind: its types in kinds.ts, its handler in its own file, one line in the lists below.
import type { CaptionService } from "../caption_service.js";
import type { ServerLimits } from "../config.js";
import { DecodeBudget } from "../decode_budget.js";
import type { ModelRegistry } from "../registry.js";
import { localCaptionJobs, workerCaptionJobs } from "./caption.js";
import type { AnyJobHandler } from "./handlers.js";
import { reloadJobs } from "./reload.js";
import type { DatasetJobDeps } from "./datasets.js";
import { draftJobs } from "./draft.js";
import { type EvalTargets, evalJobs } from "./eval.js";

export * from "./kinds.js";
export { type AnyJobHandler, type JobHandlerSpec, serveJobs } from "./handlers.js";
export { serveCaptionJobs, workerId, type WorkerCaptionJobsOptions } from "./caption.js";
export { type Caller, findJobFor, jobView, mayAccessJob, ownedBy } from "./access.js";
export { type DatasetJobDeps } from "./datasets.js";
export { checkDraft } from "./draft.js";
export { checkEval, type EvalRequest, type EvalTargets, type OpenedTarget, reportFile, servedModels } from "./eval.js";
export { trainJobs, type TrainJobServices } from "./train.js";
export { withVersions } from "./version_targets.js";

/** The embedded server's handlers. Start them once the models are loaded, so that jobs left queued by an earlier run find their model. */
export function serverJobHandlers(services: { registry: ModelRegistry; captions: CaptionService; limits: ServerLimits }): AnyJobHandler[] {
  return [localCaptionJobs(services.captions, services.limits.maxImagesPerRequest), reloadJobs(services.registry)];
}

/** A worker's handlers: caption jobs with its loaded models, in chunks and with the pixel limit the API nodes use. */
export function workerJobHandlers(worker: { registry: ModelRegistry; limits: ServerLimits; concurrency: number }): AnyJobHandler[] {
  // No reloads happen in a worker, so handing out the registry's captioner directly is safe.
  const captionerFor = (model: string) => worker.registry.use(model, async (captioner) => captioner);
  const budget = new DecodeBudget(worker.limits.maxDecodedBytes);
  return [workerCaptionJobs(captionerFor, { concurrency: worker.concurrency, chunk: worker.limits.maxImagesPerRequest, maxPixels: worker.limits.maxPixels, budget })];
}

/**
 * The jobs over stored datasets (draft, eval): they run where the dataset store is, the API process,
 * in both queue modes, and caption through its caption service (with --redis: the workers).
 */
export function datasetJobHandlers(deps: DatasetJobDeps, targets: EvalTargets): AnyJobHandler[] {
  return [draftJobs(deps), evalJobs(deps, targets)];
}

export { datasetImportJobs, type DatasetImportDeps, MAX_METADATA_BYTES, stagedUpload, sweepStagedUploads } from "./dataset_import.js";
