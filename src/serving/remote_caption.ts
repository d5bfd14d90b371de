// Scale-out captioning, the API node's side: enqueue a caption job on the shared queue and wait for
// a `captioner worker` process to do it (the worker's side is serving/jobs/caption.ts). Images
// travel as base64 because payloads are JSON.
import type { CaptionOptions } from "../generation/captioner.js";
import { type ApiCaption, CAPTION_JOB, type CaptionJobResult, enqueueJob } from "./jobs/kinds.js";
import { FINAL_STATES, type JobQueue, JobTimeoutError } from "./queue/types.js";

/** A caption job failed on the worker, or took too long; the message says which and why. */
export class RemoteCaptionError extends Error {
  constructor(message: string, readonly jobId: string) {
    super(message);
    this.name = "RemoteCaptionError";
  }
}

/**
 * A worker refused the job's options with its model's rules (e.g. a max_length the prompt leaves no
 * room in): the client's error, HTTP 400 with the worker's code and message, not a worker failure.
 */
export class RemoteInputError extends Error {
  override name = "RemoteInputError";
  constructor(readonly code: string, message: string, readonly jobId: string) {
    super(message);
  }
}

// How a refusal travels in a failed job's error text (the queue stores only a message).
const REFUSAL = /^refused \[([a-z_]+)\]: ([\s\S]*)$/;

/** The failed-job message of a refusal: `refused [option_out_of_range]: max_length 3 must be …`. */
export function refusalMessage(code: string, message: string): string {
  return `refused [${code}]: ${message}`;
}

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

  /** Like `caption`, with the worker id that did it and its model calls. */
  async captionJob(model: string, images: Uint8Array[], options: CaptionOptions): Promise<CaptionJobResult> {
    const job = await enqueueJob(this.queue, CAPTION_JOB, { model, images: images.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")), options });
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
    const refusal = REFUSAL.exec(done.error ?? "");
    if (done.state === "failed" && refusal) throw new RemoteInputError(refusal[1]!, refusal[2]!, job.id);
    throw new RemoteCaptionError(`caption job ${job.id} ${done.state} on the worker: ${done.error ?? "no error message"}`, job.id);
  }
}
