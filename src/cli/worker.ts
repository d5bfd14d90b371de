// `captioner worker --redis URL`: a scale-out worker. It loads the configured models, then captions
// the jobs API nodes (`serve --redis`) put on the Redis + BullMQ queue, until SIGINT/SIGTERM; on a
// signal it stops taking jobs, finishes the running ones and exits 0 (a second signal exits at once).
import { Command } from "commander";
import { loadServerConfig } from "../serving/config.js";
import { type JobQueue, openJobQueue } from "../serving/queue/index.js";
import { redactedUrl } from "../serving/queue/index.js";
import { ModelRegistry } from "../serving/registry.js";
import { serveJobs, workerId, workerJobHandlers } from "../serving/jobs/index.js";
import { intAtLeast, reportErrors } from "./common.js";

interface WorkerFlags {
  redis?: string;
  config?: string;
  model: string[];
  concurrency: number;
}

/** The `worker` sub-command. */
export function workerCommand(): Command {
  return new Command("worker")
    .description("caption jobs from a Redis queue (API nodes started with `serve --redis` enqueue them)")
    .option("--redis <url>", "Redis URL, e.g. redis://127.0.0.1:6379 (or CAPTIONER_REDIS_URL, or redisUrl in the config file)")
    .option("--config <file>", "server configuration file (models, threads, downloads)")
    .option("--model <name=source>", "serve a model: NAME=folder or NAME=org/repo[@revision] (repeatable)", (v: string, all: string[]) => [...all, v], [])
    .option("--concurrency <n>", "jobs captioned at once by this worker", intAtLeast(1), 1)
    .action(reportErrors(runWorker));
}

async function runWorker(flags: WorkerFlags): Promise<void> {
  const config = loadServerConfig({ file: flags.config, env: process.env, flags: { models: flags.model, redis: flags.redis } });
  if (!config.redisUrl) throw new Error("a worker needs a queue: give --redis redis://HOST:PORT (or CAPTIONER_REDIS_URL, or redisUrl in the config file)");
  const log = (message: string) => process.stderr.write(`captioner worker ${workerId()}: ${message}\n`);

  let stopRequested = false;
  let requestStop!: () => void;
  const stopSignal = new Promise<void>((resolve) => (requestStop = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested) {
      log(`${signal} again: exiting without waiting for running jobs`);
      process.exit(1);
    }
    stopRequested = true;
    log(`${signal}: finishing running jobs, then exiting`);
    requestStop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const registry = new ModelRegistry(config.models, { allowDownloads: config.allowDownloads, threads: config.threads, log });
  let queue: JobQueue | undefined;
  try {
    // Connects before loading models: a wrong URL should fail in a second, not after a download.
    queue = await openJobQueue({ redisUrl: config.redisUrl, maxDepth: config.limits.queueMaxDepth, retentionSeconds: config.limits.jobRetentionSeconds });
    await registry.loadAll();
    const failed = registry.statuses().filter((s) => s.state !== "ready");
    if (failed.length > 0) {
      throw new Error(`cannot serve ${failed.map((s) => `"${s.name}" (${s.error})`).join(", ")}; fix the model source or pull it first (captioner pull)`);
    }
    if (!stopRequested) {
      await serveJobs(queue, workerJobHandlers({ registry, limits: config.limits, concurrency: flags.concurrency }));
      log(`ready: models ${registry.names().join(", ")} on ${redactedUrl(config.redisUrl)} (concurrency ${flags.concurrency})`);
    }
    await stopSignal;
  } finally {
    await queue?.close();
    await registry.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  log("stopped");
}
