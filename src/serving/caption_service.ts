// What the HTTP routes call to caption images: one interface, two implementations. Local: models
// of this process's registry behind the dynamic batcher. Remote (`serve --redis`): caption jobs on
// Redis + BullMQ, done by `captioner worker` processes. Both check images and options the same way
// before any work is queued, so bad input is a 4xx in either mode, and both report their model calls
// (batches) to the same listeners, so the metrics do not depend on the mode.
import type { Caption, CaptionOptions, Captioner } from "../generation/captioner.js";
import { resolveOptions } from "../generation/generate.js";
import { type GenerationDefaults, GenerationOptionsError, OPTION_NAMES, optionField, serverCap, TRANSFORMERS_DEFAULTS, withKwargNames } from "../generation/options.js";
import { decodedSize, decodeImage, ImageDecodeError, type OnDecoded, sniffImageFormat } from "../preprocess/image.js";
import { concatFloat32 } from "../preprocess/image_processor.js";
import { type Admission, type BatchReport, DynamicBatcher } from "./batcher.js";
import type { ServerLimits } from "./config.js";
import type { SequenceLayout } from "../models/step_model.js";
import { DecodeBudget, DecodeTooLargeError, type Reservation } from "./decode_budget.js";
import { type ApiCaption, toApiCaption } from "./jobs/kinds.js";
import { RemoteCaptioner } from "./remote_caption.js";
import type { JobQueue } from "./queue/types.js";
import { type ModelRegistry, ModelNotReadyError, UnknownModelError } from "./registry.js";

export type { ApiCaption } from "./jobs/kinds.js";
export type { BatchReport } from "./batcher.js";

export interface CaptionService {
  readonly mode: "local" | "remote";
  /**
   * Captions `images` (file bytes) with the configured model `model`: per image, its captions.
   * `run.onDecoded` sees each image as this process decodes it (both modes decode here).
   */
  caption(model: string, images: readonly Uint8Array[], options: CaptionOptions, run?: CaptionRun): Promise<ApiCaption[][]>;
  /**
   * Throws what `caption` would throw for bad input (UnknownModelError, InputError), without
   * captioning: for work that runs later, i.e. caption jobs on submission (`maxImages`: the job
   * limit). A model still loading is no error here; its own checks then wait for the job's run.
   */
  check(model: string, images: readonly Uint8Array[], options: CaptionOptions, opts?: CheckRun): Promise<void>;
  /**
   * Throws QueueFullError when a caption request would be refused for a full queue now: checked
   * before a request's body is read, so a refusal under overload costs no upload parsing (remote: a
   * no-op; the shared queue's depth is checked when the job is enqueued).
   */
  refuseWhenFull(): void;
  /** Calls `listener` after every model call done for this service: the batcher's, or the workers' (reported with each job's result). */
  onBatch(listener: (batch: BatchReport) => void): void;
  /** Caption requests waiting or running (the queue-depth gauge). */
  depth(): Promise<number>;
  /** Finishes in-flight work; new work is refused by the server before this is called. */
  close(): Promise<void>;
}

/** How a caption call is made. */
export interface CaptionRun {
  /**
   * Set for background work (a job's run): its decodes wait for room in the decoding budget, until
   * this signal aborts, instead of failing with "decoding busy" as an interactive request does.
   */
  background?: AbortSignal;
  /** Sees each image as this process decodes it (colours are taken from the caption's own decode). */
  onDecoded?: OnDecoded;
}

/** How a check is made: as a caption call, with at most `maxImages` images (default: a request's limit). */
export type CheckRun = CaptionRun & { maxImages?: number };

/** Bad input found before any work was queued; `status` is the HTTP status to answer with. */
export class InputError extends Error {
  override name = "InputError";
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** A request waited longer than the configured request timeout (HTTP 504). */
export class CaptionTimeoutError extends Error {
  override name = "CaptionTimeoutError";
}

/** Checks the options against the server's caps (the JSON schema says the same; this guards library callers). */
export function checkOptionLimits(options: CaptionOptions, limits: ServerLimits): void {
  for (const name of OPTION_NAMES) {
    const { key, serverMin } = optionField(name);
    const cap = serverCap(name, limits);
    for (const value of [options[name]].flat()) {
      if (typeof value === "string" && cap && value.length > cap.max) {
        throw new InputError(400, "option_out_of_range", `${key} must be at most ${cap.max} characters (${cap.reason}); got ${value.length}`);
      }
      if (typeof value !== "number") continue;
      if (cap && value > cap.max) throw new InputError(400, "option_out_of_range", `${key} must be ≤ ${cap.max} (${cap.reason}); got ${value}`);
      if (serverMin !== undefined && value < serverMin) throw new InputError(400, "option_out_of_range", `${key} must be ≥ ${serverMin} (the server's limit); got ${value}`);
    }
  }
}

/** Applies the model's length rules and checks what only they reveal (e.g. max_length vs. the prompt). */
function checkResolvedOptions(options: CaptionOptions, defaults: GenerationDefaults, promptLength: number, limits: ServerLimits, maxPositions?: number, layout?: SequenceLayout): void {
  let resolved;
  try {
    resolved = resolveOptions(options, defaults, promptLength, maxPositions, layout);
  } catch (error) {
    if (error instanceof GenerationOptionsError) throw new InputError(400, error.code, withKwargNames(error.message));
    throw error;
  }
  if (resolved.maxLength - promptLength > limits.maxNewTokens) {
    // As asked (BLIP-2's resolved maxLength is one less: its generate() reserves a position).
    const asked = options.maxLength ?? defaults.maxLength;
    throw new InputError(400, "option_out_of_range", `max_length ${asked} allows ${resolved.maxLength - promptLength} new tokens, more than the server's maxNewTokens limit of ${limits.maxNewTokens}; lower max_length or set max_new_tokens`);
  }
}

/** What a model says about a request's options: its defaults, its positions, the prompt's tokens ([DEC] included). */
export interface OptionContext {
  defaults: GenerationDefaults;
  promptLength: number;
  maxPositions?: number;
  /** How the model's generate() counts the prompt (absent: BLIP's). */
  layout?: SequenceLayout;
}

/** Without a model at hand (remote mode): transformers' defaults and no prompt. */
const WITHOUT_MODEL: OptionContext = { defaults: TRANSFORMERS_DEFAULTS, promptLength: 1 };

/** `captioner`'s context for options with `prompt`. */
export function optionContext(captioner: Captioner, prompt: CaptionOptions["prompt"]): OptionContext {
  return { defaults: captioner.defaults, promptLength: captioner.promptLength(typeof prompt === "string" ? prompt : undefined), maxPositions: captioner.model.maxPositions, layout: captioner.model.special.layout };
}

/**
 * Every check of a request's options that can run before work is queued: the server's caps, the
 * valid ranges and the length rules of `model` (default: transformers' defaults and no prompt).
 * Throws InputError (400) naming the snake_case option; HTTP callers answer with it at once.
 */
export function validateCaptionOptions(options: CaptionOptions, limits: ServerLimits, model: OptionContext = WITHOUT_MODEL): void {
  checkOptionLimits(options, limits);
  checkResolvedOptions(options, model.defaults, model.promptLength, limits, model.maxPositions, model.layout);
}

/**
 * The checks of work on `model` that need no image (jobs over stored datasets, and `check` below):
 * an unknown model is UnknownModelError (404), options are validated as for a request (400), with
 * the model's own length rules when it is loaded in this process.
 */
export async function checkModelOptions(registry: ModelRegistry, model: string, options: CaptionOptions, limits: ServerLimits): Promise<void> {
  if (!registry.has(model)) throw new UnknownModelError(model, registry.names());
  try {
    await registry.use(model, async (captioner) => validateCaptionOptions(options, limits, optionContext(captioner, options.prompt)));
  } catch (error) {
    // Jobs are accepted while their model loads (they wait for it), or when workers hold it (--redis);
    // what needs the model is checked when the job runs.
    if (!(error instanceof ModelNotReadyError)) throw error;
    validateCaptionOptions(options, limits);
  }
}

/** Turns a decode failure into the right 4xx: empty 400, not an image/unsupported 415, too many pixels 413, damaged 400. */
export function imageInputError(error: ImageDecodeError, bytes: Uint8Array, index: number, total: number): InputError {
  const which = total > 1 ? `image ${index + 1} of ${total}: ` : "";
  if (bytes.length === 0) return new InputError(400, "empty_image", `${which}the image is empty (0 bytes); send the file's contents (curl: -F 'image=@photo.jpg')`);
  if (sniffImageFormat(bytes) === undefined) return new InputError(415, "unsupported_image_format", `${which}${error.message}`);
  if (error.kind === "too_many_pixels") return new InputError(413, "too_many_pixels", `${which}${error.message}`);
  return new InputError(400, "invalid_image", `${which}${error.message}`);
}

/**
 * The image checks of every caption path (sync routes, the PoC route, job submission): count, size,
 * and a full decode (`decode`: the model's preprocessing, or a bare decode where nothing is kept),
 * admitted against the decoding `budget` by each image's decoded size (from its header).
 */
async function checkImages(images: readonly Uint8Array[], limits: ServerLimits, budget: DecodeBudget, decode: (bytes: Uint8Array, index: number) => Promise<unknown>, maxImages = limits.maxImagesPerRequest, run: CaptionRun = {}): Promise<void> {
  if (images.length === 0) throw new InputError(400, "no_image", "no image was sent; send at least one image");
  if (images.length > maxImages) {
    const advice = maxImages === limits.maxImagesPerRequest ? ` (maxImagesPerRequest) — split them, or use POST /v1/jobs/captions` : "";
    throw new InputError(413, "too_many_images", `${images.length} images in one request; the limit is ${maxImages}${advice}`);
  }
  images.forEach((bytes, i) => {
    if (bytes.length > limits.maxUploadBytes) throw new InputError(413, "image_too_large", `image ${i + 1} is ${bytes.length} bytes, more than the ${limits.maxUploadBytes}-byte limit (maxUploadBytes)`);
  });
  const decodeOne = (bytes: Uint8Array, i: number) => decode(bytes, i).catch((error) => {
    throw error instanceof ImageDecodeError ? imageInputError(error, bytes, i, images.length) : error;
  });
  // One request's worth at a time: a job's images are never all decoded at once.
  for (let at = 0; at < images.length; at += limits.maxImagesPerRequest) {
    const slice = images.slice(at, at + limits.maxImagesPerRequest);
    const sizes = await Promise.all(slice.map(async (bytes, j) => decodedBytes(bytes, at + j, images.length, budget)));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total <= budget.totalBytes) {
      // The slice's one reservation covers every decode of it: held until the last has settled.
      await withReservation(await claim(budget, total, run), () => (run.background?.throwIfAborted(), allOrFirstFailure(slice, (bytes, j) => decodeOne(bytes, at + j))));
    } else {
      // Together too big for the budget, each small enough: one after the other.
      for (const [j, bytes] of slice.entries()) await withReservation(await claim(budget, sizes[j]!, run), () => (run.background?.throwIfAborted(), decodeOne(bytes, at + j)));
    }
  }
}

/**
 * A share of the budget: taken at once or DecodeBudgetBusyError (requests), or waited for (background
 * runs; the caller checks the run's signal once granted, as a grant and a cancel can come together).
 */
function claim(budget: DecodeBudget, bytes: number, run: CaptionRun): Promise<Reservation> {
  return run.background ? budget.acquire(bytes, run.background) : Promise.resolve().then(() => budget.reserve(bytes));
}

/** An image's decoded size, or 413 when it could never fit the budget (0 when its header cannot be read: the decoder refuses it). */
export async function decodedBytes(bytes: Uint8Array, index: number, total: number, budget: DecodeBudget): Promise<number> {
  const size = await decodedSize(bytes);
  if (size === null) return 0;
  if (size.bytes > budget.totalBytes) {
    const which = total > 1 ? `image ${index + 1} of ${total}` : "the image";
    const atFileDepth = size.width * size.height * size.channels * size.bytesPerSample === size.bytes;
    const shape = `${size.width}×${size.height} pixels × ${atFileDepth ? `${size.channels} channels × ${size.bytesPerSample} byte${size.bytesPerSample > 1 ? "s" : ""}` : "3 bytes (the 8-bit RGB result)"}`;
    throw new InputError(413, "decoded_too_large", `${which} is too large once decoded: ${shape} = ${size.bytes} bytes, more than the server's decoding budget of ${budget.totalBytes} bytes (maxDecodedBytes); send fewer pixels${size.bytesPerSample > 1 ? " or an 8-bit image" : ""}`);
  }
  return size.bytes;
}

/** The decode of `check` (nothing is kept), shown to `onDecoded` when given. */
function bareDecode(limits: ServerLimits, onDecoded?: OnDecoded) {
  return async (bytes: Uint8Array, index: number) => {
    const image = await decodeImage(bytes, { maxPixels: limits.maxPixels });
    onDecoded?.(image, index);
  };
}

/**
 * Runs `work` on every item at once, and settles only once every run has: the first failure aborts
 * the runs' `signal` (with `parent`'s abort too), so a sibling skips what it has not started (a wait
 * in the budget, a decode), and is what this throws. Reservations taken around it thus outlive every
 * decode that uses them, and a failed chunk leaves nothing running.
 */
export async function allOrFirstFailure<T, R>(items: readonly T[], work: (item: T, index: number, signal: AbortSignal) => Promise<R>, parent?: AbortSignal): Promise<R[]> {
  const failed = new AbortController();
  const signal = parent ? AbortSignal.any([parent, failed.signal]) : failed.signal;
  let first: { error: unknown } | undefined;
  const results = await Promise.all(items.map(async (item, i) => {
    try {
      return await work(item, i, signal);
    } catch (error) {
      if (first === undefined) {
        first = { error };
        failed.abort(error);
      }
      return undefined;
    }
  }));
  if (first !== undefined) throw first.error;
  return results as R[];
}

export async function withReservation<T>(reservation: Reservation, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    reservation.release();
  }
}

/** Captions with this process's models, through the dynamic batcher. */
export class LocalCaptionService implements CaptionService {
  readonly mode = "local";
  readonly batcher: DynamicBatcher;
  /** Shared by requests, job submissions and job runs of this process. */
  readonly budget: DecodeBudget;

  constructor(private readonly registry: ModelRegistry, private readonly limits: ServerLimits) {
    this.budget = new DecodeBudget(limits.maxDecodedBytes);
    this.batcher = new DynamicBatcher(
      (model, pixels, count, options) => registry.use(model, async (captioner) => {
        const captions = await captioner.captionPixels(pixels, count, options);
        return { captions, generatedTokens: generatedTokens(captioner, captions, options.prompt) };
      }),
      { batchSize: limits.batchSize, windowMs: limits.batchWindowMs, maxDepth: limits.queueMaxDepth },
    );
  }

  async caption(model: string, images: readonly Uint8Array[], options: CaptionOptions, run: CaptionRun = {}): Promise<ApiCaption[][]> {
    this.registry.requireReady(model);
    const admission = this.batcher.admit();
    try {
      return await this.captionAdmitted(model, images, options, admission, run);
    } finally {
      admission.release();
    }
  }

  private async captionAdmitted(model: string, images: readonly Uint8Array[], options: CaptionOptions, admission: Admission, run: CaptionRun): Promise<ApiCaption[][]> {
    const pixels = await this.registry.use(model, async (captioner) => {
      validateCaptionOptions(options, this.limits, optionContext(captioner, options.prompt));
      const decodeLimits = { maxPixels: this.limits.maxPixels };
      const parts = new Array<Float32Array>(images.length);
      const { onDecoded } = run;
      await checkImages(images, this.limits, this.budget, async (bytes, i) => (parts[i] = await captioner.pixels([bytes], decodeLimits, onDecoded && ((image) => onDecoded(image, i)))), undefined, run);
      return concatFloat32(parts);
    });
    const captions = await withTimeout((signal) => this.batcher.submit(model, pixels, images.length, options, signal, admission), this.limits.requestTimeoutMs);
    return captions.map((list) => list.map(toApiCaption));
  }

  async check(model: string, images: readonly Uint8Array[], options: CaptionOptions, opts: CheckRun = {}): Promise<void> {
    await checkModelOptions(this.registry, model, options, this.limits);
    await checkImages(images, this.limits, this.budget, bareDecode(this.limits, opts.onDecoded), opts.maxImages, opts);
  }

  refuseWhenFull(): void {
    this.batcher.refuseWhenFull();
  }

  onBatch(listener: (batch: BatchReport) => void): void {
    this.batcher.onBatch(listener);
  }

  async depth(): Promise<number> {
    return this.batcher.depth();
  }

  async close(): Promise<void> {
    await this.batcher.drain();
  }
}

/** Captions through caption jobs on a shared queue (Redis + BullMQ workers). */
export class RemoteCaptionService implements CaptionService {
  readonly mode = "remote";
  private readonly remote: RemoteCaptioner;
  private readonly listeners: ((batch: BatchReport) => void)[] = [];
  /** The API node decodes images to check them before they go to the workers. */
  private readonly budget: DecodeBudget;

  constructor(private readonly queue: JobQueue, private readonly models: readonly string[], private readonly limits: ServerLimits) {
    this.budget = new DecodeBudget(limits.maxDecodedBytes);
    this.remote = new RemoteCaptioner(queue, { timeoutMs: limits.requestTimeoutMs });
  }

  async caption(model: string, images: readonly Uint8Array[], options: CaptionOptions, run: CaptionRun = {}): Promise<ApiCaption[][]> {
    await this.check(model, images, options, run);
    const result = await this.remote.captionJob(model, [...images], options);
    // A worker's model calls are this service's batches (a failed job reports none).
    for (const batch of result.batches ?? []) {
      const report: BatchReport = { model, images: batch.images, requests: 1, seconds: batch.seconds, generatedTokens: batch.generatedTokens, failed: false };
      for (const listener of this.listeners) {
        try {
          listener(report);
        } catch {
          // a broken metrics listener must not fail a caption
        }
      }
    }
    return result.captions;
  }

  async check(model: string, images: readonly Uint8Array[], options: CaptionOptions, opts: CheckRun = {}): Promise<void> {
    if (!this.models.includes(model)) throw new UnknownModelError(model, this.models);
    validateCaptionOptions(options, this.limits);
    await checkImages(images, this.limits, this.budget, bareDecode(this.limits, opts.onDecoded), opts.maxImages, opts);
  }

  refuseWhenFull(): void {}

  onBatch(listener: (batch: BatchReport) => void): void {
    this.listeners.push(listener);
  }

  depth(): Promise<number> {
    return this.queue.depth();
  }

  async close(): Promise<void> {
    // Waiting requests hold their own promises; the queue itself is closed by the server.
  }
}

/** New tokens in a batch's captions: each row minus what precedes the new tokens (BLIP: the prompt) and trailing padding. */
export function generatedTokens(captioner: Captioner, captions: Caption[][], prompt: CaptionOptions["prompt"]): number {
  const { pad } = captioner.model.special;
  const prompts = Array.isArray(prompt) ? prompt : new Array<string | undefined>(captions.length).fill(prompt as string | undefined);
  let total = 0;
  captions.forEach((list, i) => {
    const start = captioner.outputPrefixLength(prompts[i]);
    for (const { ids } of list) {
      let end = ids.length;
      while (end > start && ids[end - 1] === pad) end--;
      total += end - start;
    }
  });
  return total;
}

/** Runs `work`, giving up after `ms`; the signal tells the work to drop what has not started. */
function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  const running = work(controller.signal); // may throw at once (e.g. QueueFullError): no timer yet
  const error = new CaptionTimeoutError(`captioning took longer than the server's ${ms} ms request timeout; retry later or send fewer images`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => (controller.abort(error), reject(error)), ms);
  });
  running.catch(() => undefined); // after a timeout nobody awaits it
  return Promise.race([running, timeout]).finally(() => clearTimeout(timer));
}
