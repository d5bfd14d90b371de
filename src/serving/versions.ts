// Model versions (issue 11): every model a train job produced, under the configured model name it
// belongs to, with what it was made from (base, dataset snapshot, settings), its validation scores
// and measured caption latency. The version a name serves is the one promoted last (none: the
// configured source). Rows live in the server database; each version's files live in
// `<dir>/<model>/<version>/` (`model/`: the Hugging Face folder; `snapshot/`: the dataset snapshot as
// imagefolder splits, kept so the gate can score other models on the same validation split).
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import type { Database } from "./db.js";

/** The schema, run once by the server database's migration that introduced it (never edit it: add a migration). */
export const VERSION_TABLES = `
  CREATE TABLE model_versions (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    base_model TEXT NOT NULL,
    base_version TEXT,
    dataset TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    settings TEXT NOT NULL,
    validation TEXT NOT NULL,
    latency TEXT NOT NULL,
    baselines TEXT NOT NULL DEFAULT '{}',
    job_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    promoted_at TEXT,
    override_reason TEXT,
    overridden_reasons TEXT
  );
  CREATE INDEX model_versions_by_model ON model_versions (model, created_at);`;

/** Version ids: "v_" + 12 hex digits (never a configured model name's shape, which has no such prefix rule, so names win on lookup). */
export const VERSION_ID_PATTERN = "^v_[0-9a-f]{12}$";

export function newVersionId(): string {
  return `v_${randomBytes(6).toString("hex")}`;
}

/** The COCO metric names of a validation (Bleu_1..4, METEOR, ROUGE_L, CIDEr). */
export type Scores = Record<string, number>;

/** What the train job recorded about the dataset it trained on. */
export interface SnapshotInfo {
  /** SHA-256 of the snapshot's item list (ids, splits, image digests, captions; `snapshot.json` in the version folder). */
  sha256: string;
  trainItems: number;
  validationItems: number;
  reviewedOnly: boolean;
}

export interface ValidationRecord {
  /** The base model's scores before training, on this version's validation split. */
  before: Scores;
  /** The kept (best) epoch's scores. */
  after: Scores;
  epochs: Scores[];
  bestEpoch: number;
  trainLoss: number[];
  steps: number;
}

/** Greedy caption latency of this version and of the version serving when it was measured, same images, same batch. */
export interface LatencyRecord {
  /** Median milliseconds of one batch. */
  candidateMs: number;
  servingMs: number;
  /** Which version served when measured (null: the configured source). */
  servingVersion: string | null;
  images: number;
  runs: number;
  measuredAt: string;
}

export interface ModelVersion {
  id: string;
  model: string;
  base: { model: string; version: string | null };
  dataset: string;
  snapshot: SnapshotInfo;
  settings: Record<string, unknown>;
  validation: ValidationRecord;
  latency: LatencyRecord;
  /** Validation CIDEr-D of other models on this version's split, by serving key ("source" or a version id). */
  baselines: Record<string, number>;
  jobId: string;
  createdAt: string;
  promotedAt: string | null;
  overrideReason: string | null;
  /** The gate's reasons the override went past. */
  overriddenReasons: string[] | null;
}

export type NewVersion = Omit<ModelVersion, "createdAt" | "promotedAt" | "overrideReason" | "overriddenReasons" | "baselines">;

interface VersionRow {
  id: string;
  model: string;
  base_model: string;
  base_version: string | null;
  dataset: string;
  snapshot: string;
  settings: string;
  validation: string;
  latency: string;
  baselines: string;
  job_id: string;
  created_at: string;
  promoted_at: string | null;
  override_reason: string | null;
  overridden_reasons: string | null;
}

/** The key of what a name serves in `baselines`: a version id, or "source" for the configured source. */
export const servingKey = (version: string | null): string => version ?? "source";

export class VersionStore {
  constructor(private readonly db: Database, readonly dir: string) {}

  /** `<dir>/<model>/<id>/`: the version's folder (model/ and snapshot/ inside). */
  folder(model: string, id: string): string {
    if (!new RegExp(VERSION_ID_PATTERN).test(id)) throw new Error(`not a version id: ${id}`);
    return path.join(this.dir, model, id);
  }

  /** The Hugging Face model folder of a version. */
  modelFolder(model: string, id: string): string {
    return path.join(this.folder(model, id), "model");
  }

  /** Records a finished version; a second call for the same job returns the first one's row (a job re-run after a crash). */
  add(version: NewVersion): ModelVersion {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO model_versions (id, model, base_model, base_version, dataset, snapshot, settings, validation, latency, job_id, created_at)
         VALUES (@id, @model, @base_model, @base_version, @dataset, @snapshot, @settings, @validation, @latency, @job_id, @created_at)
         ON CONFLICT (job_id) DO NOTHING`,
      )
      .run({
        id: version.id,
        model: version.model,
        base_model: version.base.model,
        base_version: version.base.version,
        dataset: version.dataset,
        snapshot: JSON.stringify(version.snapshot),
        settings: JSON.stringify(version.settings),
        validation: JSON.stringify(version.validation),
        latency: JSON.stringify(version.latency),
        job_id: version.jobId,
        created_at: now,
      });
    return this.byJob(version.jobId)!;
  }

  get(id: string): ModelVersion | null {
    const row = this.db.prepare("SELECT * FROM model_versions WHERE id = ?").get(id) as VersionRow | undefined;
    return row ? toVersion(row) : null;
  }

  byJob(jobId: string): ModelVersion | null {
    const row = this.db.prepare("SELECT * FROM model_versions WHERE job_id = ?").get(jobId) as VersionRow | undefined;
    return row ? toVersion(row) : null;
  }

  /** A model name's versions, newest first. */
  list(model: string): ModelVersion[] {
    return (this.db.prepare("SELECT * FROM model_versions WHERE model = ? ORDER BY created_at DESC, rowid DESC").all(model) as VersionRow[]).map(toVersion);
  }

  /** The version `model` serves: the one promoted last, or null (the configured source). */
  serving(model: string): ModelVersion | null {
    const row = this.db.prepare("SELECT * FROM model_versions WHERE model = ? AND promoted_at IS NOT NULL ORDER BY promoted_at DESC, rowid DESC LIMIT 1").get(model) as VersionRow | undefined;
    return row ? toVersion(row) : null;
  }

  /** Makes `id` the served version from now on, with the override that let it past the gate (if one did). */
  markPromoted(id: string, override: { reason: string; reasons: string[] } | null): ModelVersion {
    this.db
      .prepare("UPDATE model_versions SET promoted_at = ?, override_reason = ?, overridden_reasons = ? WHERE id = ?")
      .run(new Date().toISOString(), override?.reason ?? null, override ? JSON.stringify(override.reasons) : null, id);
    return this.get(id)!;
  }

  /** Remembers another model's validation CIDEr-D on this version's split (the gate computes it at most once). */
  addBaseline(id: string, key: string, cider: number): void {
    const version = this.get(id);
    if (!version) return;
    this.db.prepare("UPDATE model_versions SET baselines = ? WHERE id = ?").run(JSON.stringify({ ...version.baselines, [key]: cider }), id);
  }

  /** Replaces the latency measurement (the gate re-measures when another version serves than at training time). */
  setLatency(id: string, latency: LatencyRecord): void {
    this.db.prepare("UPDATE model_versions SET latency = ? WHERE id = ?").run(JSON.stringify(latency), id);
  }
}

function toVersion(row: VersionRow): ModelVersion {
  return {
    id: row.id,
    model: row.model,
    base: { model: row.base_model, version: row.base_version },
    dataset: row.dataset,
    snapshot: JSON.parse(row.snapshot) as SnapshotInfo,
    settings: JSON.parse(row.settings) as Record<string, unknown>,
    validation: JSON.parse(row.validation) as ValidationRecord,
    latency: JSON.parse(row.latency) as LatencyRecord,
    baselines: JSON.parse(row.baselines) as Record<string, number>,
    jobId: row.job_id,
    createdAt: row.created_at,
    promotedAt: row.promoted_at,
    overrideReason: row.override_reason,
    overriddenReasons: row.overridden_reasons === null ? null : (JSON.parse(row.overridden_reasons) as string[]),
  };
}
