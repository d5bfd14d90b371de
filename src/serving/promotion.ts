// Measuring model versions against the served one, and promotion through the gate (issue 11). The
// gate's rule lives here and only here: a candidate may become what a model name serves when its
// validation CIDEr-D is above the served model's on the candidate's own validation split, and its
// greedy caption latency is within 5 % of the served model's (same images, same batch, measured
// back to back); otherwise the admin must give an override reason, which is recorded.
import * as fs from "node:fs";
import * as path from "node:path";
import { openDataset } from "../datasets/imagefolder.js";
import { evaluate } from "../eval/evaluate.js";
import { Captioner } from "../generation/captioner.js";
import type { JobQueue } from "./queue/types.js";
import { type ModelRegistry, type ModelStatus, UnknownModelError } from "./registry.js";
import { snapshotSplit } from "./snapshot.js";
import { type LatencyRecord, type ModelVersion, servingKey, type VersionStore } from "./versions.js";

/** Latency may exceed the served model's by at most this fraction. */
export const LATENCY_TOLERANCE = 0.05;
/** Images per latency batch (the first of the validation split), and timed runs per model. */
export const LATENCY_IMAGES = 8;
export const LATENCY_RUNS = 5;

/** The gate's verdict with the numbers behind it. */
export interface GateReport {
  passed: boolean;
  /** Why it failed, one sentence per rule broken (empty when it passed). */
  reasons: string[];
  /** What served when the gate ran (null: the configured source). */
  servingVersion: string | null;
  cider: { candidate: number; serving: number };
  latency: { candidateMs: number; servingMs: number; limitMs: number };
}

export type PromotionErrorKind = "unknown_version" | "version_not_ready" | "gate_refused" | "promotion_in_progress" | "version_load_failed";

export class PromotionError extends Error {
  override name = "PromotionError";
  constructor(readonly kind: PromotionErrorKind, message: string, readonly reasons: string[] = []) {
    super(message);
  }
}

export interface PromotionResult {
  version: ModelVersion;
  /** What served before (null: the configured source). */
  previous: string | null;
  gate: GateReport | null;
  /** The version already served: nothing changed. */
  unchanged: boolean;
  status: ModelStatus | null;
}

/** The first `n` images of a version's validation split, as bytes. */
export function validationImages(versionFolder: string, n = LATENCY_IMAGES): Uint8Array[] {
  const split = openDataset(snapshotSplit(path.join(versionFolder, "snapshot"), "validation"));
  return split.items.slice(0, n).map((it) => new Uint8Array(fs.readFileSync(it.file)));
}

/**
 * Greedy caption latency of two checkpoint folders, loaded as `model`'s models are, on the same
 * batch: one warm-up each, then `runs` timed batches alternating which goes first; the medians.
 */
export async function measureLatency(registry: ModelRegistry, model: string, folders: { candidate: string; serving: string }, images: Uint8Array[], maxNewTokens: number, runs = LATENCY_RUNS, signal?: AbortSignal): Promise<Pick<LatencyRecord, "candidateMs" | "servingMs" | "images" | "runs">> {
  const loaded: Captioner[] = [];
  try {
    signal?.throwIfAborted();
    const candidate = await registry.loadDetached(model, folders.candidate).then((c) => (loaded.push(c), c));
    const serving = await registry.loadDetached(model, folders.serving).then((c) => (loaded.push(c), c));
    const options = { maxNewTokens, numBeams: 1 };
    const time = async (c: Captioner) => {
      signal?.throwIfAborted(); // a cancelled train job stops between batches
      const t0 = performance.now();
      await c.caption(images, options);
      return performance.now() - t0;
    };
    await time(candidate);
    await time(serving);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < runs; r++) {
      if (r % 2 === 0) (a.push(await time(candidate)), b.push(await time(serving)));
      else (b.push(await time(serving)), a.push(await time(candidate)));
    }
    return { candidateMs: median(a), servingMs: median(b), images: images.length, runs };
  } finally {
    await Promise.all(loaded.map((c) => c.release().catch(() => undefined)));
  }
}

/**
 * Validation CIDEr-D of the checkpoint in `folder` on a version's split, scored as training scores
 * its epochs (fp32, greedy, the version's caption length limit), so the two numbers compare.
 */
export async function validationCider(folder: string, version: ModelVersion, versionFolder: string, threads?: number): Promise<number> {
  const items = openDataset(snapshotSplit(path.join(versionFolder, "snapshot"), "validation")).items;
  const captioner = await Captioner.load(folder, threads ? { threads } : {});
  try {
    const settings = version.settings as { maxNewTokens?: number; validationBatchSize?: number };
    const scored = await evaluate(captioner, items, { batchSize: settings.validationBatchSize ?? 50, caption: { maxNewTokens: settings.maxNewTokens ?? 47, numBeams: 1 } });
    return scored.coco.CIDEr;
  } finally {
    await captioner.release();
  }
}

/** Promotions: the gate, then the hot swap and the record. One at a time per model name. */
export class Promotions {
  private readonly busy = new Set<string>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly versions: VersionStore,
    /** Where the train jobs are: a version whose job is still there and not done (running, cancelled) is not promoted. */
    private readonly jobs: Pick<JobQueue, "get"> | null,
    /** onnxruntime threads of the validation scoring (default: every core). */
    private readonly threads?: number,
  ) {}

  /** The folder of what `model` serves now, and its version id (null: the configured source). */
  async served(model: string): Promise<{ version: string | null; folder: string }> {
    const serving = this.versions.serving(model);
    return serving ? { version: serving.id, folder: this.versions.modelFolder(model, serving.id) } : { version: null, folder: await this.registry.sourceFolder(model) };
  }

  /**
   * Makes `versionId` what `model` serves if the gate passes, or with `overrideReason` regardless;
   * throws PromotionError (unknown_version, gate_refused with the reasons, promotion_in_progress).
   */
  async promote(model: string, versionId: string, overrideReason?: string): Promise<PromotionResult> {
    if (!this.registry.has(model)) throw new UnknownModelError(model, this.registry.names());
    const version = this.versions.get(versionId);
    if (!version || version.model !== model) {
      throw new PromotionError("unknown_version", `model "${model}" has no version "${versionId}"; GET /v1/admin/models/${model}/versions lists them`);
    }
    await this.checkJobDone(version);
    if (this.busy.has(model)) throw new PromotionError("promotion_in_progress", `a promotion of "${model}" is already running; retry when it has finished`);
    this.busy.add(model);
    try {
      const served = await this.served(model);
      if (served.version === version.id) return { version, previous: served.version, gate: null, unchanged: true, status: null };
      const gate = await this.gate(model, version, served);
      if (!gate.passed && !overrideReason) {
        throw new PromotionError("gate_refused", `version ${version.id} did not pass the promotion gate: ${gate.reasons.join("; ")}; improve it, or promote anyway with "override_reason"`, gate.reasons);
      }
      const status = await this.registry.serveVersion(model, { id: version.id, folder: this.versions.modelFolder(model, version.id) }).catch((error: Error) => {
        throw new PromotionError("version_load_failed", `version ${version.id} could not be loaded (${error.message}); "${model}" keeps serving ${served.version ?? "its configured source"}`);
      });
      const promoted = this.versions.markPromoted(version.id, gate.passed ? null : { reason: overrideReason!, reasons: gate.reasons });
      return { version: promoted, previous: served.version, gate, unchanged: false, status };
    } finally {
      this.busy.delete(model);
    }
  }

  /** A version is promotable once its train job is done (a job past its retention is gone: it ended long ago). */
  private async checkJobDone(version: ModelVersion): Promise<void> {
    const job = await this.jobs?.get(version.jobId);
    if (job && job.state !== "done") {
      throw new PromotionError("version_not_ready", `version ${version.id} cannot be promoted: its train job ${job.id} is ${job.state}, not done`);
    }
  }

  /** The gate's rule on `version` against what serves (`served`); the missing numbers are measured and kept with the version. */
  async gate(model: string, version: ModelVersion, served: { version: string | null; folder: string }): Promise<GateReport> {
    const folder = this.versions.folder(model, version.id);
    const key = servingKey(served.version);
    let servingCider = version.baselines[key];
    if (servingCider === undefined) {
      servingCider = await validationCider(served.folder, version, folder, this.threads);
      this.versions.addBaseline(version.id, key, servingCider);
    }
    let latency = version.latency;
    if (latency.servingVersion !== served.version) {
      const measured = await measureLatency(this.registry, model, { candidate: this.versions.modelFolder(model, version.id), serving: served.folder }, validationImages(folder), (version.settings as { maxNewTokens?: number }).maxNewTokens ?? 47);
      latency = { ...measured, servingVersion: served.version, measuredAt: new Date().toISOString() };
      this.versions.setLatency(version.id, latency);
    }
    const candidateCider = version.validation.after.CIDEr ?? 0;
    const limitMs = latency.servingMs * (1 + LATENCY_TOLERANCE);
    const servingName = served.version ?? "the configured source";
    const reasons: string[] = [];
    if (!(candidateCider > servingCider)) {
      reasons.push(`validation CIDEr-D ${candidateCider.toFixed(4)} is not above ${servingCider.toFixed(4)}, the serving model's (${servingName}) on the same validation split`);
    }
    if (latency.candidateMs > limitMs) {
      const over = (latency.candidateMs / latency.servingMs - 1) * 100;
      reasons.push(`caption latency ${latency.candidateMs.toFixed(1)} ms is ${over.toFixed(1)} % above the serving model's ${latency.servingMs.toFixed(1)} ms (at most ${LATENCY_TOLERANCE * 100} % allowed; ${latency.images} images per batch, median of ${latency.runs})`);
    }
    return { passed: reasons.length === 0, reasons, servingVersion: served.version, cider: { candidate: candidateCider, serving: servingCider }, latency: { candidateMs: latency.candidateMs, servingMs: latency.servingMs, limitMs } };
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
