// The job handlers each kind of process serves. The embedded server (`serve` without --redis) runs
// its jobs itself; a scale-out worker (`captioner worker`) runs the caption jobs API nodes enqueue.
// A new kind: its types in kinds.ts, its handler in its own file, one line in the lists below.
import type { CaptionService } from "../caption_service.js";
import type { ServerLimits } from "../config.js";
import type { ModelRegistry } from "../registry.js";
import { localCaptionJobs, workerCaptionJobs } from "./caption.js";
import type { AnyJobHandler } from "./handlers.js";
import { reloadJobs } from "./reload.js";

export * from "./kinds.js";
export { type AnyJobHandler, type JobHandlerSpec, serveJobs } from "./handlers.js";
export { serveCaptionJobs, workerId, type WorkerCaptionJobsOptions } from "./caption.js";
export { type Caller, findJobFor, jobView, mayAccessJob, ownedBy } from "./access.js";

/** The embedded server's handlers. Start them once the models are loaded, so that jobs left queued by an earlier run find their model. */
export function serverJobHandlers(services: { registry: ModelRegistry; captions: CaptionService; limits: ServerLimits }): AnyJobHandler[] {
  return [localCaptionJobs(services.captions, services.limits.maxImagesPerRequest), reloadJobs(services.registry)];
}

/** A worker's handlers: caption jobs with its loaded models, in chunks and with the pixel limit the API nodes use. */
export function workerJobHandlers(worker: { registry: ModelRegistry; limits: ServerLimits; concurrency: number }): AnyJobHandler[] {
  // No reloads happen in a worker, so handing out the registry's captioner directly is safe.
  const captionerFor = (model: string) => worker.registry.use(model, async (captioner) => captioner);
  return [workerCaptionJobs(captionerFor, { concurrency: worker.concurrency, chunk: worker.limits.maxImagesPerRequest, maxPixels: worker.limits.maxPixels })];
}

export { datasetImportJobs, type DatasetImportDeps, MAX_METADATA_BYTES } from "./dataset_import.js";
