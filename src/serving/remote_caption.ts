// Scale-out captioning: API nodes enqueue caption jobs on the shared queue and wait; `captioner worker`
// processes consume them with locally loaded models. Images travel as base64 because payloads are JSON.
import * as os from "node:os";
import type { Caption, CaptionOptions, Captioner } from "../generation/captioner.js";
import { FINAL_STATES, type JobQueue, JobTimeoutError } from "./queue/types.js";

export const CAPTION_JOB = "caption";

export interface CaptionJobPayload {
  model: string;
  /** Image files' bytes, base64. */
  images: string[];
  options: CaptionOptions;
}

export interface CaptionJobResult {
  captions: Caption[][];
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

  /** Captions images with the model a worker knows by `model`; same result as `Captioner.caption` there. */
  async caption(model: string, images: Uint8Array[], options: CaptionOptions): Promise<Caption[][]> {
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

/** Worker side: consume caption jobs with a resolver from model name to a loaded Captioner. */
export function serveCaptionJobs(
  queue: JobQueue,
  captionerFor: (model: string) => Promise<Captioner>,
  opts: { concurrency?: number } = {},
): Promise<void> {
  return queue.work<CaptionJobPayload, CaptionJobResult>(
    CAPTION_JOB,
    async (job) => {
      const { model, images, options } = job.payload;
      const captioner = await captionerFor(model);
      const bytes = images.map((b64) => new Uint8Array(Buffer.from(b64, "base64")));
      return { captions: await captioner.caption(bytes, options), worker: workerId() };
    },
    opts,
  );
}
