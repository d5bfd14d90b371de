// Dynamic batching: caption requests for the same model and the same generation options that arrive
// within a short window are run as ONE model call (up to `batchSize` images), and each request gets
// its own slice back. Prompts may differ inside a batch: `captionPixels` takes one prompt per image
// and groups equal prompt lengths itself, so every image still gets the caption it would get alone.
// Batches run one at a time (the model already uses every core); the queue in front is bounded.
import type { Caption, CaptionOptions } from "../generation/captioner.js";
import { concatFloat32 } from "../preprocess/image_processor.js";
import { QueueFullError } from "./queue/types.js";

/** Runs one batch: `count` images of preprocessed `pixels`, `options.prompt` one per image. */
export type BatchExecutor = (model: string, pixels: Float32Array, count: number, options: CaptionOptions) => Promise<BatchOutput>;

export interface BatchOutput {
  captions: Caption[][];
  /** Tokens generated for the whole batch (for the tokens/s metric). */
  generatedTokens: number;
}

/** What happened in one model call (metrics and tests listen to these). */
export interface BatchReport {
  model: string;
  images: number;
  requests: number;
  seconds: number;
  generatedTokens: number;
  failed: boolean;
}

export interface BatcherOptions {
  /** Most images per model call. */
  batchSize: number;
  /** How long the first request of a batch waits for others to join. */
  windowMs: number;
  /** Most requests waiting or running; one more gets QueueFullError (HTTP 503 + Retry-After). */
  maxDepth: number;
}

interface Pending {
  pixels: Float32Array;
  count: number;
  prompt: string;
  resolve: (captions: Caption[][]) => void;
  reject: (error: unknown) => void;
}

interface Batch {
  key: string;
  model: string;
  options: CaptionOptions;
  requests: Pending[];
  images: number;
  /** The window has passed or the batch is full: it may run. */
  due: boolean;
  /** The window's timer, cleared when the batch becomes due early (full, or drained). */
  timer?: NodeJS.Timeout;
}

/** A place in the queue taken before a request's work starts (see `DynamicBatcher.admit`). */
export interface Admission {
  release(): void;
}

export class DynamicBatcher {
  private readonly open = new Map<string, Batch>();
  private readonly waiting: Batch[] = [];
  private running: Batch | null = null;
  private readonly listeners: ((report: BatchReport) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  /** Moving average of a batch's duration, for Retry-After. */
  private averageSeconds = 1;
  /** Requests admitted but not yet submitted (their images are being decoded). */
  private admitted = 0;

  constructor(private readonly execute: BatchExecutor, private readonly opts: BatcherOptions) {}

  /** Requests admitted, waiting for or inside a model call. */
  depth(): number {
    return this.admitted + this.waiting.reduce((n, b) => n + b.requests.length, 0) + (this.running?.requests.length ?? 0);
  }

  /**
   * Holds a place for a request before any work is done for it (decoding its images), so that under
   * overload a refusal costs nothing (measured before: at 200 clients every refused request was
   * decoded first, and goodput fell from ≈ 250 to ≈ 10 captions/s). Throws QueueFullError when full.
   * Pass the admission to `submit`, or `release()` it if the request ends first (releasing twice is harmless).
   */
  admit(): Admission {
    this.refuseWhenFull();
    this.admitted++;
    let held = true;
    return {
      release: () => {
        if (held) (held = false), this.admitted--;
      },
    };
  }

  /** Throws QueueFullError when no place is free now (checked again by `admit`). */
  refuseWhenFull(): void {
    const depth = this.depth();
    if (depth >= this.opts.maxDepth) throw new QueueFullError(depth, this.opts.maxDepth, this.retryAfterSeconds());
  }

  /** Called after every model call. */
  onBatch(listener: (report: BatchReport) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Captions `count` images (`pixels` = their `[count, 3, S, S]` values) with `model`, sharing a model
   * call with concurrent requests that use the same options. Throws QueueFullError when full. When
   * `signal` aborts before the request's batch has started, the request leaves the queue (its
   * promise rejects with the signal's reason); once running, it finishes. With an `admission`, the
   * place it holds becomes the request's (no second check).
   */
  submit(model: string, pixels: Float32Array, count: number, options: CaptionOptions, signal?: AbortSignal, admission?: Admission): Promise<Caption[][]> {
    if (admission) admission.release();
    else this.refuseWhenFull();
    if (typeof options.prompt !== "string" && options.prompt !== undefined) throw new TypeError("the batcher takes one prompt string per request");
    const { prompt = "", ...rest } = options;
    const key = `${model}\u0000${stableJson(rest)}`;
    return new Promise<Caption[][]>((resolve, reject) => {
      let batch = this.open.get(key);
      if (batch && batch.images + count > this.opts.batchSize) {
        this.markDue(batch);
        batch = undefined;
      }
      if (!batch) {
        const fresh: Batch = { key, model, options: rest, requests: [], images: 0, due: false };
        this.open.set(key, fresh);
        this.waiting.push(fresh);
        fresh.timer = setTimeout(() => this.markDue(fresh), this.opts.windowMs);
        batch = fresh;
      }
      const request: Pending = { pixels, count, prompt, resolve, reject };
      batch.requests.push(request);
      batch.images += count;
      const joined = batch;
      signal?.addEventListener("abort", () => this.withdraw(joined, request, signal.reason), { once: true });
      if (batch.images >= this.opts.batchSize) this.markDue(batch);
    });
  }

  /** Takes a request that nobody waits for any more out of a batch that has not started. */
  private withdraw(batch: Batch, request: Pending, reason: unknown): void {
    const at = batch.requests.indexOf(request);
    if (this.running === batch || at < 0) return;
    batch.requests.splice(at, 1);
    batch.images -= request.count;
    request.reject(reason);
    if (batch.requests.length === 0) {
      clearTimeout(batch.timer);
      if (this.open.get(batch.key) === batch) this.open.delete(batch.key);
      this.waiting.splice(this.waiting.indexOf(batch), 1);
      this.pump();
    }
  }

  /** Resolves once nothing is waiting or running (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.depth() > 0) {
      // A copy: markDue starts a batch, which takes it out of `waiting` (and would skip the next one).
      [...this.waiting].forEach((b) => this.markDue(b));
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** Seconds until a new request would probably be served: queued batches × average batch time. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.averageSeconds * (this.waiting.length + 1)));
  }

  private markDue(batch: Batch): void {
    batch.due = true;
    clearTimeout(batch.timer);
    if (this.open.get(batch.key) === batch) this.open.delete(batch.key);
    this.pump();
  }

  private pump(): void {
    if (this.running) return;
    const next = this.waiting.findIndex((b) => b.due);
    if (next < 0) {
      if (this.waiting.length === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
      return;
    }
    const batch = this.waiting.splice(next, 1)[0]!;
    this.running = batch;
    void this.run(batch).finally(() => {
      this.running = null;
      this.pump();
    });
  }

  private async run(batch: Batch): Promise<void> {
    const started = performance.now();
    let output: BatchOutput | undefined;
    try {
      // Inside the try: a request whose pixels or count cannot be batched fails the batch, never leaves it unsettled.
      const pixels = concatFloat32(batch.requests.map((r) => r.pixels));
      const prompts = batch.requests.flatMap((r) => new Array<string>(r.count).fill(r.prompt));
      const options: CaptionOptions = prompts.some((p) => p !== "") ? { ...batch.options, prompt: prompts } : batch.options;
      output = await this.execute(batch.model, pixels, batch.images, options);
      let at = 0;
      for (const request of batch.requests) {
        request.resolve(output.captions.slice(at, at + request.count));
        at += request.count;
      }
    } catch (error) {
      for (const request of batch.requests) request.reject(error);
    }
    const seconds = (performance.now() - started) / 1000;
    this.averageSeconds = 0.8 * this.averageSeconds + 0.2 * seconds;
    const report = { model: batch.model, images: batch.images, requests: batch.requests.length, seconds, generatedTokens: output?.generatedTokens ?? 0, failed: !output };
    for (const listener of this.listeners) {
      try {
        listener(report);
      } catch {
        // a broken metrics listener must not break captioning
      }
    }
  }
}

/** JSON with sorted keys and undefined values dropped, so equal options give equal batch keys. */
function stableJson(value: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1))));
}
