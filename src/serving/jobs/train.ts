// Train jobs (admin): snapshot the dataset, fine-tune the base model on it with the training library,
// measure the result's caption latency against the served model, and record a model version. The
// job's work lives in the version's own folder (`<dataDir>/models/<model>/<version>/`), so a job
// the process stopped during (a crash, kill -9) is re-run by the embedded queue at the next start and
// resumes from the training's last saved state; a cancelled or failed job leaves nothing behind.
import * as fs from "node:fs";
import * as path from "node:path";
import type { DatasetStore } from "../../datasets/store.js";
import { trainingBackendFor } from "../../training/backends.js";
import { fineTune, type TrainProgress } from "../../training/train.js";
import { LATENCY_RUNS, measureLatency, type Promotions, validationImages } from "../promotion.js";
import { type JobContext, JobInterruptedError } from "../queue/types.js";
import type { ModelRegistry } from "../registry.js";
import { snapshotSplit, writeSnapshot } from "../snapshot.js";
import { type ModelVersion, servingKey, type VersionStore } from "../versions.js";
import type { JobHandlerSpec } from "./handlers.js";
import { TRAIN_JOB, type TrainJobDetails, type TrainJobPayload } from "./kinds.js";

export interface TrainJobServices {
  registry: ModelRegistry;
  datasets: DatasetStore;
  versions: VersionStore;
  promotions: Promotions;
  /** onnxruntime threads for training (the server's setting; default every core). */
  threads?: number;
  /** Fires when the server stops: the training saves its state and the job goes back to the queue (JobInterruptedError). */
  stopping?: AbortSignal;
}

/** Progress is written at most this often while steps run (every epoch's end is written too). */
const PROGRESS_EVERY_MS = 250;

export function trainJobs(services: TrainJobServices): JobHandlerSpec<typeof TRAIN_JOB> {
  return { kind: TRAIN_JOB, handle: (job, ctx) => runTrainJob(services, job.id, job.payload, ctx) };
}

async function runTrainJob(services: TrainJobServices, jobId: string, payload: TrainJobPayload, ctx: JobContext): Promise<ModelVersion> {
  const { versions } = services;
  const folder = versions.folder(payload.model, payload.version);
  const recorded = versions.byJob(jobId);
  if (recorded) {
    // Stopped after recording it: the work is done, only the resume state may be left.
    fs.rmSync(path.join(folder, "model", "training"), { recursive: true, force: true });
    return recorded;
  }
  const details = new Details(payload, ctx);
  const signal = services.stopping ? AbortSignal.any([ctx.signal, services.stopping]) : ctx.signal;
  let version: ModelVersion;
  try {
    version = await train(services, jobId, payload, folder, details, { ...ctx, signal });
  } catch (error) {
    // Stopped with the server: the folder stays, and the job runs (resumes) at the next start.
    if (services.stopping?.aborted && !ctx.signal.aborted) throw new JobInterruptedError(`the server stopped during the training; it resumes at the next start (${(error as Error).message})`);
    // A cancelled or failed job is not run again: its files go (a killed process never gets here: they stay for
    // the resume) — unless its version was recorded already: a recorded version keeps its folder.
    if (!versions.byJob(jobId)) fs.rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  await details.report({ phase: "done" }, 1);
  return version;
}

async function train(services: TrainJobServices, jobId: string, payload: TrainJobPayload, folder: string, details: Details, ctx: JobContext): Promise<ModelVersion> {
  const { versions, registry } = services;
  await details.report({ phase: "snapshot" }, 0);
  const snapshotDir = path.join(folder, "snapshot");
  const snapshot = writeSnapshot(services.datasets, payload.dataset, payload.reviewedOnly, snapshotDir);
  const base = payload.base.version ? versions.modelFolder(payload.base.model, payload.base.version) : await registry.sourceFolder(payload.base.model);
  const out = path.join(folder, "model");
  fs.mkdirSync(out, { recursive: true });
  await details.report({ phase: "preparing" });
  const settings = { ...payload.settings, threads: services.threads };
  const result = await fineTune({
    model: base,
    train: snapshotSplit(snapshotDir, "train"),
    validation: snapshotSplit(snapshotDir, "validation"),
    out,
    settings,
    resume: true, // a fresh start when nothing was saved yet
    backend: trainingBackendFor(base),
    signal: ctx.signal,
    // A saved state may hold an epoch's loss whose validation is still to come: it is reported with it.
    onStart: (at) => details.update({ phase: "training", step: at.step, totalSteps: at.totalSteps, epoch: at.epochsDone, trainLoss: at.trainLoss.slice(0, at.validation.length), validation: at.validation, resumedFromStep: at.step > 0 || at.before !== null ? at.step : null }),
    onProgress: (p: TrainProgress) => details.step(p),
    onEpoch: (e) => details.epochEnd(e.trainLoss, e.validation),
  });
  // Caption latency of the new model and of the served one, same images, same batch.
  await details.report({ phase: "measuring" });
  const served = await services.promotions.served(payload.model);
  const latency = await measureLatency(registry, payload.model, { candidate: out, serving: served.folder }, validationImages(folder), settings.maxNewTokens, LATENCY_RUNS, ctx.signal);
  ctx.signal.throwIfAborted(); // a job cancelled by now records nothing
  const version = versions.add({
    id: payload.version,
    model: payload.model,
    base: payload.base,
    dataset: payload.dataset,
    snapshot,
    settings: { ...payload.settings },
    validation: { before: result.validation.before, after: result.validation.after, epochs: result.validation.epochs, bestEpoch: result.best_epoch, trainLoss: result.train_loss, steps: result.steps },
    latency: { ...latency, servingVersion: served.version, measuredAt: new Date().toISOString() },
    jobId,
  });
  // `before` is the base's score on this split: the gate's number for the base, when it is what serves.
  versions.addBaseline(version.id, servingKey(payload.base.version), result.validation.before.CIDEr ?? 0);
  fs.rmSync(path.join(out, "training"), { recursive: true, force: true }); // the resume state and image caches
  return versions.get(version.id)!;
}

/** The job's `details` (see TrainJobDetails), written with its progress. */
class Details {
  private readonly value: TrainJobDetails;
  private lastWrite = 0;

  constructor(payload: TrainJobPayload, private readonly ctx: JobContext) {
    const { version, model, base, dataset } = payload;
    this.value = { phase: "snapshot", version, model, base, dataset, step: 0, totalSteps: null, epoch: 0, epochs: null, loss: null, trainLoss: [], validation: [], resumedFromStep: null };
  }

  update(changes: Partial<TrainJobDetails>): void {
    Object.assign(this.value, changes);
    void this.write();
  }

  step(p: TrainProgress): void {
    Object.assign(this.value, { phase: "training", step: p.step, totalSteps: p.totalSteps, epoch: p.epoch, epochs: p.epochs, loss: p.loss });
    if (performance.now() - this.lastWrite >= PROGRESS_EVERY_MS) void this.write();
  }

  epochEnd(trainLoss: number, validation: Record<string, number>): void {
    this.value.trainLoss = [...this.value.trainLoss, trainLoss];
    this.value.validation = [...this.value.validation, validation];
    void this.write();
  }

  async report(changes: Partial<TrainJobDetails>, fraction?: number): Promise<void> {
    Object.assign(this.value, changes);
    await this.write(fraction);
  }

  /** Training is the job's first 95 %; measuring and recording the rest. */
  private write(fraction?: number): Promise<void> {
    this.lastWrite = performance.now();
    const { step, totalSteps } = this.value;
    const f = fraction ?? (totalSteps ? (0.95 * step) / totalSteps : 0);
    return this.ctx.progress(f, { ...this.value }).catch(() => undefined);
  }
}
