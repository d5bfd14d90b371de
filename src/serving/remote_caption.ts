// Scale-out captioning: API nodes enqueue caption jobs on the shared queue and wait; `captioner worker`
// processes consume them with locally loaded models. Images travel as base64 because payloads are JSON.
import * as os from "node:os";
import type { Caption, CaptionOptions, Captioner } from "../generation/captioner.js";
import { GenerationOptionsError } from "../generation/generate.js";
import { FINAL_STATES, type JobQueue, JobTimeoutError } from "./queue/types.js";

export const CAPTION_JOB = "caption";

/** A caption as the API returns it (token ids stay internal: their padding depends on the batch). */
export interface ApiCaption {
  text: string;
  score?: number;
}

/** The API's caption: text and, for beam search, the score. */
export function toApiCaption(c: Caption): ApiCaption {
  return c.score === undefined ? { text: c.text } : { text: c.text, score: c.score };
}

export interface CaptionJobPayload {
  model: string;
  /** Image files' bytes, base64. */
  images: string[];
  options: CaptionOptions;
  /** The API key that submitted the job (only it, or an admin, may read the job); absent without keys. */
  owner?: string;
}

/** What a caption job returns, locally or on a worker: per image, its captions. */
export interface CaptionJobResult {
  captions: ApiCaption[][];
  /** Which worker captioned it ("host:pid"): useful to see the load spread across workers. */
  worker?: string;
}

/** A caption job failed on the worker, or took too long; the message says which and why. */
export class RemoteCaptionError extends Error {
  constructor(message: string, readonly jobId: string) {
    super(message);
    this.name = "RemoteCaptionError";
  }
}

/** This process's worker id: "hostname:pid". */
export const workerId = (): string => `${os.hostname()}:${process.pid}`;

/** API-node side: enqueue on the queue and wait for the result (throws QueueFullError when full, a clear error on failure/timeout). */
export class RemoteCaptioner {
  private readonly timeoutMs: number;

  constructor(
    private readonly queue: JobQueue,
    opts: { timeoutMs?: number } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** Captions images with the model a worker knows by `model`; the texts and scores of `Captioner.caption` there. */
  async caption(model: string, images: Uint8Array[], options: CaptionOptions): Promise<ApiCaption[][]> {
    return (await this.captionJob(model, images, options)).captions;
  }

  /** Like `caption`, with the worker id that did it. */
  async captionJob(model: string, images: Uint8Array[], options: CaptionOptions): Promise<CaptionJobResult> {
    const payload: CaptionJobPayload = { model, images: images.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")), options };
    const job = await this.queue.enqueue(CAPTION_JOB, payload);
    let done;
    try {
      done = await this.queue.waitFor(job.id, this.timeoutMs);
    } catch (error) {
      if (!(error instanceof JobTimeoutError)) throw error;
      // Nobody is waiting any more: do not let a worker spend time on it.
      await this.queue.cancel(job.id).catch(() => false);
      throw new RemoteCaptionError(`caption job ${job.id} got no result within ${this.timeoutMs} ms; are workers running (captioner worker --redis …) and serving model "${model}"?`, job.id);
    }
    if (done.state === "done") return done.result as CaptionJobResult;
    if (!FINAL_STATES.includes(done.state)) throw new RemoteCaptionError(`caption job ${job.id} ended in unexpected state ${done.state}`, job.id);
    throw new RemoteCaptionError(`caption job ${job.id} ${done.state} on the worker: ${done.error ?? "no error message"}`, job.id);
  }
}

export interface ServeCaptionJobsOptions {
  /** Jobs captioned at once by this process (default 1). */
  concurrency?: number;
  /** Images per model call; progress is reported after each (default 16). */
  chunk?: number;
  /** Refuse images with more pixels than this (the server's maxPixels); default: the decoder's own limit. */
  maxPixels?: number;
}

/**
 * Worker side: consume caption jobs with a resolver from model name to a loaded Captioner, `chunk`
 * images per model call with progress after each, like the local caption jobs.
 */
export function serveCaptionJobs(queue: JobQueue, captionerFor: (model: string) => Promise<Captioner>, opts: ServeCaptionJobsOptions = {}): Promise<void> {
  const chunk = opts.chunk ?? 16;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a whole number ≥ 1, got ${chunk}`);
  const limits = opts.maxPixels === undefined ? undefined : { maxPixels: opts.maxPixels };
  return queue.work<CaptionJobPayload, CaptionJobResult>(
    CAPTION_JOB,
    async (job, ctx) => {
      const { model, images, options } = job.payload;
      const captioner = await captionerFor(model);
      if (Array.isArray(options.prompt) && options.prompt.length !== images.length) {
        throw new GenerationOptionsError(`got ${options.prompt.length} prompts for ${images.length} images; give one prompt, or one per image`);
      }
      const captions: ApiCaption[][] = [];
      for (let at = 0; at < images.length; at += chunk) {
        if (ctx.signal.aborted) throw new Error("the job was cancelled");
        const bytes = images.slice(at, at + chunk).map((b64) => new Uint8Array(Buffer.from(b64, "base64")));
        // One prompt per image travels with its image into the chunk.
        const prompt = Array.isArray(options.prompt) ? options.prompt.slice(at, at + chunk) : options.prompt;
        const pixels = await captioner.pixels(bytes, limits);
        const part = await captioner.captionPixels(pixels, bytes.length, { ...options, prompt });
        captions.push(...part.map((list) => list.map(toApiCaption)));
        await ctx.progress(captions.length / images.length);
      }
      return { captions, worker: workerId() };
    },
    { concurrency: opts.concurrency },
  );
}
