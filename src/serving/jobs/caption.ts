// Caption jobs, `chunk` images at a time with progress after each. Two handlers for one kind: in the
// embedded server the jobs go through the CaptionService (so they share batches with interactive
// requests); a scale-out worker (`captioner worker`) captions with its own loaded models.
import * as os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Captioner } from "../../generation/captioner.js";
import { GenerationOptionsError, resolveOptions } from "../../generation/generate.js";
import { withKwargNames } from "../../generation/options.js";
import { concatFloat32 } from "../../preprocess/image_processor.js";
import { ImageDecodeError } from "../../preprocess/image.js";
import { refusalMessage } from "../remote_caption.js";
import { allOrFirstFailure, type CaptionService, decodedBytes, generatedTokens, imageInputError, InputError, withReservation } from "../caption_service.js";
import { DEFAULT_LIMITS } from "../config.js";
import { DecodeBudget } from "../decode_budget.js";
import { type JobContext, type JobQueue, QueueFullError } from "../queue/types.js";
import { type JobHandlerSpec, serveJobs } from "./handlers.js";
import { type ApiCaption, CAPTION_JOB, type JobBatch, toApiCaption } from "./kinds.js";

/** Tries of one chunk of a caption job while the batcher answers "queue full" (each after its Retry-After). */
const QUEUE_FULL_TRIES = 30;

/** This process's worker id: "hostname:pid". */
export const workerId = (): string => `${os.hostname()}:${process.pid}`;

/** Embedded server: caption jobs through `service`, `chunk` images per call. */
export function localCaptionJobs(service: CaptionService, chunk: number): JobHandlerSpec<typeof CAPTION_JOB> {
  return {
    kind: CAPTION_JOB,
    handle: async (job, ctx) => {
      const { model, images, options } = job.payload;
      const captions: ApiCaption[][] = [];
      for (let at = 0; at < images.length; at += chunk) {
        if (ctx.signal.aborted) throw new Error("the job was cancelled");
        const bytes = images.slice(at, at + chunk).map((b64) => new Uint8Array(Buffer.from(b64, "base64")));
        captions.push(...(await whenRoom(() => service.caption(model, bytes, options, { background: ctx.signal }), ctx)));
        await ctx.progress(captions.length / images.length);
      }
      return { captions };
    },
  };
}

/**
 * Runs a job's share of captioning, waiting out "queue full" answers (each for its Retry-After) unless
 * cancelled. "Decoding busy" never comes back here: a job's run (CaptionRun.background) waits in the
 * decoding budget instead.
 */
export async function whenRoom<T>(work: () => Promise<T>, ctx: JobContext): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof QueueFullError) || tries >= QUEUE_FULL_TRIES || ctx.signal.aborted) throw error;
      await sleep(error.retryAfterSeconds * 1000, undefined, { signal: ctx.signal }).catch(() => {});
    }
  }
}

export interface WorkerCaptionJobsOptions {
  /** Jobs captioned at once by this process (default 1). */
  concurrency?: number;
  /** Images per model call; progress is reported after each (default 16). */
  chunk?: number;
  /** Refuse images with more pixels than this (the server's maxPixels); default: the decoder's own limit. */
  maxPixels?: number;
  /** The decoding budget of this process's caption jobs (default: one of limits.maxDecodedBytes, shared by its concurrent jobs). */
  budget?: DecodeBudget;
}

/**
 * Scale-out worker: caption jobs with a resolver from model name to a loaded Captioner. The result
 * names the worker and lists its model calls, which the API node turns into its batch metrics.
 */
export function workerCaptionJobs(captionerFor: (model: string) => Promise<Captioner>, opts: WorkerCaptionJobsOptions = {}): JobHandlerSpec<typeof CAPTION_JOB> {
  const chunk = opts.chunk ?? 16;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a whole number ≥ 1, got ${chunk}`);
  const limits = opts.maxPixels === undefined ? undefined : { maxPixels: opts.maxPixels };
  const budget = opts.budget ?? new DecodeBudget(DEFAULT_LIMITS.maxDecodedBytes);
  return {
    kind: CAPTION_JOB,
    concurrency: opts.concurrency,
    handle: async (job, ctx) => {
      const { model, images, options } = job.payload;
      const captioner = await captionerFor(model);
      if (Array.isArray(options.prompt) && options.prompt.length !== images.length) {
        throw new Error(refusalMessage("invalid_option", `got ${options.prompt.length} prompts for ${images.length} images; give one prompt, or one per image`));
      }
      // What only the model can check (its defaults, the prompt's tokens, its positions): the API
      // node has no model, so a refusal goes back as the client's 400, not as a worker failure.
      for (const prompt of new Set([options.prompt].flat())) {
        try {
          resolveOptions(options, captioner.defaults, captioner.promptLength(prompt), captioner.model.maxPositions, captioner.model.special.layout);
        } catch (error) {
          if (error instanceof GenerationOptionsError) throw new Error(refusalMessage(error.code, withKwargNames(error.message)));
          throw error;
        }
      }
      const captions: ApiCaption[][] = [];
      const batches: JobBatch[] = [];
      for (let at = 0; at < images.length; at += chunk) {
        if (ctx.signal.aborted) throw new Error("the job was cancelled");
        const bytes = images.slice(at, at + chunk).map((b64) => new Uint8Array(Buffer.from(b64, "base64")));
        // One prompt per image travels with its image into the chunk.
        const prompt = Array.isArray(options.prompt) ? options.prompt.slice(at, at + chunk) : options.prompt;
        // One image that fails fails the chunk: its siblings stop waiting, and none is left decoding.
        const pixels = concatFloat32(await allOrFirstFailure(bytes, (image, j, signal) => pixelsWithin(budget, captioner, image, at + j, images.length, limits, signal), ctx.signal));
        const started = performance.now();
        const part = await captioner.captionPixels(pixels, bytes.length, { ...options, prompt });
        batches.push({ images: bytes.length, seconds: (performance.now() - started) / 1000, generatedTokens: generatedTokens(captioner, part, prompt) });
        captions.push(...part.map((list) => list.map(toApiCaption)));
        await ctx.progress(captions.length / images.length);
      }
      return { captions, worker: workerId(), batches };
    },
  };
}

/**
 * One image's pixels, decoded once its decoded size is free in `budget` (jobs wait their turn: they
 * are not interactive) unless `signal` aborts first. An image bigger than the whole budget, or one
 * that does not decode, fails the job with its place in the job, as a refusal (the client's 4xx on
 * the API node, not a worker failure).
 */
async function pixelsWithin(budget: DecodeBudget, captioner: Captioner, image: Uint8Array, index: number, total: number, limits: { maxPixels: number } | undefined, signal: AbortSignal): Promise<Float32Array> {
  try {
    const bytes = await decodedBytes(image, index, total, budget);
    return await withReservation(await budget.acquire(bytes, signal), () => {
      signal.throwIfAborted(); // granted as a sibling failed: nothing to decode for
      return captioner.pixels([image], limits);
    });
  } catch (error) {
    const refused = error instanceof ImageDecodeError ? imageInputError(error, image, index, total) : error;
    if (refused instanceof InputError) throw new Error(refusalMessage(refused.code, refused.message));
    throw error;
  }
}

/** Serves caption jobs only, as a worker does (kept for callers that run no other kind). */
export function serveCaptionJobs(queue: JobQueue, captionerFor: (model: string) => Promise<Captioner>, opts: WorkerCaptionJobsOptions = {}): Promise<void> {
  return serveJobs(queue, [workerCaptionJobs(captionerFor, opts)]);
}
