// The server's shared infrastructure, built from the configuration: the database (API keys, the
// embedded queue, stored datasets), the job queue, the model registry and the caption service, plus the job
// handlers this process runs. `serve` and the tests both build it here; routes only use it.
import * as path from "node:path";
import { type Database, openDatabase } from "../serving/db.js";
import { KeyStore } from "../serving/auth.js";
import { type CaptionService, LocalCaptionService, RemoteCaptionService } from "../serving/caption_service.js";
import type { ServerConfig } from "../serving/config.js";
import type { HubOptions } from "../hub/index.js";
import { datasetImportJobs, datasetJobHandlers, type DatasetJobDeps, type EvalTargets, serveJobs, servedModels, serverJobHandlers } from "../serving/jobs/index.js";
import { type JobQueue, openJobQueue } from "../serving/queue/index.js";
import { type ModelLoader, ModelRegistry } from "../serving/registry.js";
import { Restyler } from "../enrich/index.js";
import { DatasetStore } from "../datasets/store.js";
import { ImportStaging } from "../datasets/staging.js";
import { VersionStore } from "../serving/versions.js";
import { Promotions } from "../serving/promotion.js";
import { sweepStagedUploads, trainJobs, withVersions } from "../serving/jobs/index.js";

export interface Services {
  config: ServerConfig;
  db: Database;
  keys: KeyStore;
  queue: JobQueue;
  registry: ModelRegistry;
  captions: CaptionService;
  /** The PoC route's model: the one named `blip`, else the first configured. */
  defaultModel: string;
  /** One per process, so its concurrency cap bounds this server's calls to the LLM endpoint. */
  restyler: Restyler;
  /** Stored datasets: rows in `db`, image files under `<dataDir>/datasets/`. */
  datasets: DatasetStore;
  /** Uploaded import files waiting for their job, under `<dataDir>/datasets/uploads/`. */
  importStaging: ImportStaging;
  /** The hub settings models and dataset imports download with (tests point them at a fake hub). */
  hub?: HubOptions;
  /** Model versions made by train jobs: rows in `db`, folders under `<dataDir>/models/`. */
  versions: VersionStore;
  /** The promotion gate and the swap of a version into its model name. */
  promotions: Promotions;
  /** Aborted when the services start closing: a running train job saves its state and goes back to the queue for the next start. */
  stopping: AbortController;
}

export interface OpenServicesOptions {
  /** Database file; default `<dataDir>/captioner.db` (":memory:" for tests). */
  dbFile?: string;
  loader?: ModelLoader;
  hub?: HubOptions;
  log?: (message: string) => void;
}

/**
 * Opens everything a server needs. Models are not loaded yet: call `services.registry.loadAll()`
 * (the server answers /readyz 503 meanwhile), then `startJobHandlers` so that jobs left queued by
 * an earlier run are not taken before their model is ready.
 */
export async function openServices(config: ServerConfig, opts: OpenServicesOptions = {}): Promise<Services> {
  const db = openDatabase(opts.dbFile ?? path.join(config.dataDir, "captioner.db"));
  const remote = config.redisUrl !== undefined;
  // With Redis, a wrong URL fails the start with a clear message, not every request later.
  const queue = await openJobQueue({ redisUrl: config.redisUrl, db, maxDepth: config.limits.queueMaxDepth, retentionSeconds: config.limits.jobRetentionSeconds });
  const registry = new ModelRegistry(config.models, { allowDownloads: config.allowDownloads, threads: config.threads, loader: opts.loader, hub: opts.hub, log: opts.log, remote });
  const captions = remote ? new RemoteCaptionService(queue, registry.names(), config.limits) : new LocalCaptionService(registry, config.limits);
  const names = registry.names();
  const versions = new VersionStore(db, path.join(config.dataDir, "models"));
  // A promoted version is what its name serves after a restart too.
  for (const name of names) {
    const serving = versions.serving(name);
    if (serving) registry.setVersion(name, { id: serving.id, folder: versions.modelFolder(name, serving.id) });
  }
  const promotions = new Promotions(registry, versions, queue, config.threads);
  return { config, db, keys: new KeyStore(db), queue, registry, captions, defaultModel: names.includes("blip") ? "blip" : names[0]!, restyler: new Restyler(config.llm), datasets: new DatasetStore(db, path.join(config.dataDir, "datasets")),
    importStaging: new ImportStaging(path.join(config.dataDir, "datasets", "uploads")), hub: opts.hub, versions, promotions, stopping: new AbortController() };
}

/** Starts this process's job handlers (caption jobs, model reloads); call it once the models are loaded. */
export async function startJobHandlers(services: Services): Promise<void> {
  const { config, queue, registry, captions } = services;
  const { deps, targets } = datasetJobs(services);
  // Dataset imports need no model: they run where the datasets are, like the other dataset jobs.
  const importer = datasetImportJobs({ store: services.datasets, staging: services.importStaging, limits: config.limits, hub: services.hub, allowDownloads: config.allowDownloads });
  // Train jobs need the stored datasets too (they load their models themselves).
  const train = trainJobs({ registry, datasets: services.datasets, versions: services.versions, promotions: services.promotions, threads: config.threads, stopping: services.stopping.signal });
  const datasetHandlers = [...datasetJobHandlers(deps, targets), importer, train];
  // Uploads staged by an earlier run whose import will never run (it died before queueing, or the job was failed or cancelled).
  await sweepStagedUploads(queue, services.importStaging);
  // In --redis mode the workers own the models, and caption jobs belong to them; jobs over stored
  // datasets stay with this process, which holds the store (they caption through the workers).
  if (config.redisUrl !== undefined) return serveJobs(queue, datasetHandlers);
  await serveJobs(queue, [...serverJobHandlers({ registry, captions, limits: config.limits }), ...datasetHandlers]);
}

/** What the jobs over stored datasets (draft, eval) use, for their handlers and for the routes that check and queue them. */
export function datasetJobs(services: Services): { deps: DatasetJobDeps; targets: EvalTargets } {
  const { config, datasets, captions, registry, restyler } = services;
  const deps: DatasetJobDeps = { datasets, captions, registry, restyler, limits: config.limits, reportsDir: path.join(config.dataDir, "reports") };
  return { deps, targets: withVersions(servedModels(deps), { versions: services.versions, registry, limits: config.limits }) };
}

/** Graceful: finish in-flight captioning, stop the queue (queued jobs stay persisted; a running train job stops and is queued again), release models. */
export async function closeServices(services: Services): Promise<void> {
  // The queue stops taking jobs before the running ones are told to stop, so an interrupted job is not claimed again.
  const queueClosed = services.queue.close();
  services.stopping.abort(new Error("the server is stopping"));
  await services.captions.close();
  await queueClosed;
  await services.registry.close();
  services.db.close();
}
