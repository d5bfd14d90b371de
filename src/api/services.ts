// The server's shared infrastructure, built from the configuration: the database (API keys, the
// embedded queue, stored datasets), the job queue, the model registry and the caption service, plus the job
// handlers this process runs. `serve` and the tests both build it here; routes only use it.
import * as path from "node:path";
import { type Database, openDatabase } from "../serving/db.js";
import { KeyStore } from "../serving/auth.js";
import { type CaptionService, LocalCaptionService, RemoteCaptionService } from "../serving/caption_service.js";
import type { ServerConfig } from "../serving/config.js";
import type { HubOptions } from "../hub/index.js";
import { serveJobs, serverJobHandlers } from "../serving/jobs/index.js";
import { type JobQueue, openJobQueue } from "../serving/queue/index.js";
import { type ModelLoader, ModelRegistry } from "../serving/registry.js";
import { Restyler } from "../enrich/index.js";
import { DatasetStore } from "../datasets/store.js";

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
  return { config, db, keys: new KeyStore(db), queue, registry, captions, defaultModel: names.includes("blip") ? "blip" : names[0]!, restyler: new Restyler(config.llm), datasets: new DatasetStore(db, path.join(config.dataDir, "datasets")) };
}

/** Starts this process's job handlers (caption jobs, model reloads); call it once the models are loaded. */
export async function startJobHandlers(services: Services): Promise<void> {
  const { config, queue, registry, captions } = services;
  // In --redis mode the workers own the models, and these jobs belong to them.
  if (config.redisUrl !== undefined) return;
  await serveJobs(queue, serverJobHandlers({ registry, captions, limits: config.limits }));
}

/** Graceful: finish in-flight captioning, stop the queue (queued jobs stay persisted), release models. */
export async function closeServices(services: Services): Promise<void> {
  await services.captions.close();
  await services.queue.close();
  await services.registry.close();
  services.db.close();
}
