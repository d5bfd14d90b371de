// One job-queue interface for expensive work (captioning, later evaluation and training), with two
// backends: SQLite (embedded, persistent, one machine) and Redis + BullMQ (several machines).
// Payloads and results must be JSON: they cross process boundaries (images travel as base64).

export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

/** A job as the queue stores it; `progress` is a fraction 0..1. Times are ISO-8601 strings. */
export interface Job<P = unknown, R = unknown> {
  id: string;
  kind: string;
  payload: P;
  state: JobState;
  progress: number;
  /** What the handler last reported with its progress (JSON, e.g. a training's epoch, step and loss); null if nothing. */
  details: unknown;
  result: R | null;
  error: string | null;
  /** How many times a worker started this job (retries and crash recoveries included). */
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

/** What a handler gets besides its job: a progress reporter and a signal that fires on cancel. */
export interface JobContext {
  /** `details` (JSON) replaces the job's previous details when given; left out, they stay. */
  progress(fraction: number, details?: unknown): Promise<void>;
  readonly signal: AbortSignal;
}

export type JobHandler<P = unknown, R = unknown> = (job: Job<P, R>, ctx: JobContext) => Promise<R>;

/** The queue already holds `maxDepth` queued + running jobs: answer 503 with `Retry-After`. */
export class QueueFullError extends Error {
  constructor(
    readonly depth: number,
    readonly maxDepth: number,
    public retryAfterSeconds = 1,
  ) {
    super(`the job queue is full (${depth} of ${maxDepth} jobs queued or running); retry in ${retryAfterSeconds} s`);
    this.name = "QueueFullError";
  }
}

/** A job id that the queue does not know, or an operation that does not fit the job's state. */
export class JobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobError";
  }
}

/**
 * Thrown by a handler that stopped because its process is stopping (not because the job failed):
 * the queue puts the job back as queued, to run again (a resumable job resumes) at the next start.
 */
export class JobInterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobInterruptedError";
  }
}

/** `waitFor` gave up before the job finished (the job itself keeps going). */
export class JobTimeoutError extends Error {
  constructor(
    readonly jobId: string,
    readonly timeoutMs: number,
  ) {
    super(`job ${jobId} did not finish within ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
  }
}

export interface EnqueueOptions {
  /** Tries before the job is `failed` (default 1: no retry). */
  maxAttempts?: number;
  /**
   * Payload fields that are the job's input (e.g. the images of a caption job): stored apart and
   * deleted once the job ends, so a finished job keeps only its small fields and its result.
   */
  inputFields?: readonly string[];
}

export interface QueueRetention {
  /** Finished jobs (done, failed, cancelled) are removed this long after they ended (default 7 days). */
  retentionSeconds?: number;
}

/** Default time a finished job stays readable. */
export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

/** How often the queues look for finished jobs past their retention: often enough for short retentions, at most once a minute. */
export function sweepIntervalMs(retentionSeconds: number): number {
  return Math.min(60_000, Math.max(250, (retentionSeconds * 1000) / 2));
}

/** Splits a payload into what is kept after the job ends and its input (null when it has none). */
export function splitInput(payload: unknown, fields: readonly string[] = []): { kept: unknown; input: Record<string, unknown> | null } {
  if (fields.length === 0 || typeof payload !== "object" || payload === null || Array.isArray(payload)) return { kept: payload, input: null };
  const kept: Record<string, unknown> = {};
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) (fields.includes(key) ? input : kept)[key] = value;
  return { kept, input: Object.keys(input).length > 0 ? input : null };
}

/** The payload a handler sees: the kept fields with the input put back (while the job has one). */
export function joinInput(kept: unknown, input: Record<string, unknown> | null): unknown {
  return input === null ? kept : { ...(kept as Record<string, unknown>), ...input };
}

export interface ListOptions {
  kind?: string;
  state?: JobState;
  /** Newest first; default 100. */
  limit?: number;
}

export interface JobQueue {
  /** Adds a job in state `queued`; throws QueueFullError when `depth() >= maxDepth`. */
  enqueue<P>(kind: string, payload: P, opts?: EnqueueOptions): Promise<Job<P>>;
  get(id: string): Promise<Job | null>;
  list(opts?: ListOptions): Promise<Job[]>;
  /** Cancels a queued job (never started) or signals a running one; false if it already finished or is unknown. */
  cancel(id: string): Promise<boolean>;
  /** Starts consuming jobs of `kind` in this process; resolves when the worker is ready. */
  work<P, R>(kind: string, handler: JobHandler<P, R>, opts?: { concurrency?: number }): Promise<void>;
  /** Resolves with the job once it is done/failed/cancelled (or rejects with JobTimeoutError after timeoutMs). */
  waitFor(id: string, timeoutMs?: number): Promise<Job>;
  /** Queued + running jobs, all kinds. */
  depth(): Promise<number>;
  /** Graceful: stop taking jobs, let running ones finish (persisted queued jobs stay queued). */
  close(): Promise<void>;
}

/** Finished states: a job in one of these never changes again. */
export const FINAL_STATES: readonly JobState[] = ["done", "failed", "cancelled"];

/** Default queue depth limit (queued + running) before enqueue refuses with QueueFullError. */
export const DEFAULT_MAX_DEPTH = 1000;

/** What a job kind may look like: 1-64 letters, digits, "_", "." or "-". */
export const JOB_KIND_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Job kinds name queues (BullMQ queue names, Redis keys), so they are kept to simple words. */
export function checkKind(kind: string): string {
  if (typeof kind !== "string" || !JOB_KIND_PATTERN.test(kind)) throw new JobError(`job kind "${kind}" must be 1-64 letters, digits, "_", "." or "-"`);
  return kind;
}

/** The error message of anything thrown, for a job's `error` field. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The URL without its password, for logs and messages. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(invalid URL)";
  }
}
