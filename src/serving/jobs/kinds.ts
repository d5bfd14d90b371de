// Every job kind of the queue with its payload and result, in one place: the routes that enqueue,
// the handlers that run them and the access policy read the types from here. A new kind (eval,
// train, draft) is one entry in `JobTypes` plus its handler file.
import { type Caption, type CaptionOptions, readableText } from "../../generation/captioner.js";
import type { Split } from "../../datasets/store.js";
import type { EvaluationResult } from "../../eval/evaluate.js";
import type { TrainingSettings } from "../../training/options.js";
import type { Job, JobQueue } from "../queue/types.js";
import type { ImportResult } from "../../datasets/import.js";
import type { ModelVersion } from "../versions.js";

export const CAPTION_JOB = "caption";
/** An admin model reload (download + load). */
export const RELOAD_JOB = "model.reload";

/** Most images in one caption job (POST /v1/jobs/captions). */
export const MAX_JOB_IMAGES = 1000;

/** A caption as the API returns it (token ids stay internal: their padding depends on the batch). */
export interface ApiCaption {
  text: string;
  score?: number;
}

/** The API's caption: the readable text and, for beam search, the score. */
export function toApiCaption(c: Caption): ApiCaption {
  const text = readableText(c);
  return c.score === undefined ? { text } : { text, score: c.score };
}

/** Payload fields of the kinds users submit themselves (see access.ts). */
export interface OwnedPayload {
  /** The API key that submitted the job (only it, or an admin, may read the job); absent without keys. */
  owner?: string;
}

export interface CaptionJobPayload extends OwnedPayload {
  model: string;
  /** Image files' bytes, base64. */
  images: string[];
  options: CaptionOptions;
}

/** One model call of a job on a worker, for the API node's batch metrics. */
export interface JobBatch {
  images: number;
  seconds: number;
  generatedTokens: number;
}

/** What a caption job returns, locally or on a worker: per image, its captions. */
export interface CaptionJobResult {
  captions: ApiCaption[][];
  /** Which worker captioned it ("host:pid"): useful to see the load spread across workers. */
  worker?: string;
  /** The worker's model calls (internal: the API does not show them). */
  batches?: JobBatch[];
}

export interface ReloadJobPayload {
  model: string;
}

export interface ReloadJobResult {
  model: string;
  loadSeconds: number | null;
}

// ---- jobs over stored datasets (issue 11): caption drafting and evaluation (admin) ------------------

/** Captions a stored dataset's items with a model, as unreviewed drafts. */
export const DRAFT_JOB = "draft";
/** Evaluates a model on a stored dataset's split. */
export const EVAL_JOB = "eval";

export interface DraftJobPayload {
  dataset: string;
  model: string;
  /** Only this split; absent: every split. */
  split?: Split;
  /** Redraft items that have captions too, replacing them (reviewed or not); default only items without captions. */
  overwrite: boolean;
  options: CaptionOptions;
  /** A configured restyle style: the drafted caption is the image's description in it. */
  style?: string;
}

export interface DraftJobResult {
  dataset: string;
  model: string;
  split: Split | null;
  style: string | null;
  /** Items chosen when the job started. */
  total: number;
  /** Items that now hold drafted captions, unreviewed. */
  drafted: number;
  /** Items left alone: captioned meanwhile (without overwrite), or deleted meanwhile. */
  skipped: { captioned: number; deleted: number };
  /** Items the model could not caption (e.g. an image over a limit lowered since it was stored), first 100. */
  failed: { id: string; error: string }[];
  /** With a style: descriptions the LLM wrote, and those its deterministic fallback wrote. */
  llm: { used: number; fallback: number } | null;
}

/**
 * What an eval job evaluates: a configured model by name. (Model versions add a field here; the
 * handler resolves a target to a captioner through EvalTargets, eval.ts, so only that changes.)
 */
export interface EvalTarget {
  model: string;
}

export interface EvalJobPayload {
  dataset: string;
  split: Split;
  target: EvalTarget;
  options: CaptionOptions;
  /** Only items whose captions a reviewer accepted (the default). */
  reviewedOnly: boolean;
}

/** The evaluation (corpus metrics, per-item results) plus what was evaluated and where the HTML report is. */
export interface EvalJobResult extends EvaluationResult {
  dataset: string;
  split: Split;
  model: string;
  reviewed_only: boolean;
  /** GET this (admin) for the HTML report. */
  report: string;
}

/** An admin fine-tuning of a model on a stored dataset (issue 11); it ends with a new model version. */
export const TRAIN_JOB = "train";

export interface TrainJobPayload {
  dataset: string;
  /** The configured model name the new version belongs to. */
  model: string;
  /** What it starts from: the model name's source (version null) or one of its versions. */
  base: { model: string; version: string | null };
  /** The version id this job creates (chosen on submission, so a re-run after a crash makes the same one). */
  version: string;
  /** Every training setting (the table's defaults with the request's values). */
  settings: TrainingSettings;
  /** Train and validate on reviewed items only. */
  reviewedOnly: boolean;
}

/** What a train job reports with its progress (GET /v1/jobs/{id} `details`). */
export interface TrainJobDetails {
  phase: "snapshot" | "preparing" | "training" | "measuring" | "done";
  /** What it trains (the job view shows no payload): the version it makes, its model name, base and dataset. */
  version: string;
  model: string;
  base: { model: string; version: string | null };
  dataset: string;
  step: number;
  totalSteps: number | null;
  epoch: number;
  epochs: number | null;
  /** The last step's loss, and each finished epoch's mean. */
  loss: number | null;
  trainLoss: number[];
  /** Validation scores per finished epoch (COCO names; CIDEr is CIDEr-D). */
  validation: Record<string, number>[];
  /** Set when this run continued a saved state: the step it resumed at. */
  resumedFromStep: number | null;
}

/** Job kind → its payload and result. */
export interface JobTypes {
  [CAPTION_JOB]: { payload: CaptionJobPayload; result: CaptionJobResult };
  [RELOAD_JOB]: { payload: ReloadJobPayload; result: ReloadJobResult };
  [DRAFT_JOB]: { payload: DraftJobPayload; result: DraftJobResult };
  [EVAL_JOB]: { payload: EvalJobPayload; result: EvalJobResult };
  [TRAIN_JOB]: { payload: TrainJobPayload; result: ModelVersion };
}

export type JobKind = keyof JobTypes;
export type PayloadOf<K extends JobKind> = JobTypes[K]["payload"];
export type ResultOf<K extends JobKind> = JobTypes[K]["result"];

/** An admin import into a stored dataset (issue 11): an uploaded zip or parquet file, or a hub dataset repo. */
export const DATASET_IMPORT_JOB = "dataset.import";

export type DatasetImportSource =
  /** A staged upload (`ImportStaging` id) and the client's file name, a label only (a parquet file's split may come from it). */
  | { kind: "upload"; staged: string; fileName: string }
  | { kind: "hub"; repo: string; revision?: string };

export interface DatasetImportPayload {
  dataset: string;
  source: DatasetImportSource;
  /** The split of rows that say none (else their file's or folder's, else train). */
  split?: Split;
}

export interface DatasetImportResult extends ImportResult {
  dataset: string;
  /** The hub commit imported (hub imports). */
  commit?: string;
}

// Declaration merging keeps each kind's entry beside its types.
export interface JobTypes {
  [DATASET_IMPORT_JOB]: { payload: DatasetImportPayload; result: DatasetImportResult };
}

/** Each kind's input: payload fields deleted once the job ends (the result stays until the retention). */
const INPUT_FIELDS: { [K in JobKind]: readonly (keyof PayloadOf<K> & string)[] } = {
  [CAPTION_JOB]: ["images"],
  [RELOAD_JOB]: [],
  [DRAFT_JOB]: [],
  [EVAL_JOB]: [],
  [TRAIN_JOB]: [],
  // The upload is a staged file the job deletes itself.
  [DATASET_IMPORT_JOB]: [],
};

/** `queue.enqueue` with the payload type of `kind`. */
export function enqueueJob<K extends JobKind>(queue: JobQueue, kind: K, payload: PayloadOf<K>): Promise<Job<PayloadOf<K>>> {
  return queue.enqueue(kind, payload, { inputFields: INPUT_FIELDS[kind] });
}
