// Every job kind of the queue with its payload and result, in one place: the routes that enqueue,
// the handlers that run them and the access policy read the types from here. A new kind (eval,
// train, draft) is one entry in `JobTypes` plus its handler file.
import type { Caption, CaptionOptions } from "../../generation/captioner.js";
import type { Job, JobQueue } from "../queue/types.js";

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

/** The API's caption: text and, for beam search, the score. */
export function toApiCaption(c: Caption): ApiCaption {
  return c.score === undefined ? { text: c.text } : { text: c.text, score: c.score };
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

/** Job kind → its payload and result. */
export interface JobTypes {
  [CAPTION_JOB]: { payload: CaptionJobPayload; result: CaptionJobResult };
  [RELOAD_JOB]: { payload: ReloadJobPayload; result: ReloadJobResult };
}

export type JobKind = keyof JobTypes;
export type PayloadOf<K extends JobKind> = JobTypes[K]["payload"];
export type ResultOf<K extends JobKind> = JobTypes[K]["result"];

/** Each kind's input: payload fields deleted once the job ends (the result stays until the retention). */
const INPUT_FIELDS: { [K in JobKind]: readonly (keyof PayloadOf<K> & string)[] } = {
  [CAPTION_JOB]: ["images"],
  [RELOAD_JOB]: [],
};

/** `queue.enqueue` with the payload type of `kind`. */
export function enqueueJob<K extends JobKind>(queue: JobQueue, kind: K, payload: PayloadOf<K>): Promise<Job<PayloadOf<K>>> {
  return queue.enqueue(kind, payload, { inputFields: INPUT_FIELDS[kind] });
}
