// The scale-out job queue: Redis + BullMQ. One BullMQ queue per job kind (a BullMQ worker takes every
// job of its queue, so kinds must not share one). Job ids are "<kind>.<uuid>" so `get(id)` finds the
// queue. BullMQ has no "cancelled" state: a cancelled job gets a tombstone key (its snapshot) that
// overrides what BullMQ says, and workers poll those keys to abort running handlers.
// A job's input (its images) is a key of its own, deleted when the job ends; BullMQ removes
// finished jobs after the retention (removeOnComplete/removeOnFail by age, and a periodic clean,
// since BullMQ applies the age only when another job finishes).
import { randomUUID } from "node:crypto";
import { type Job as BullJob, DelayedError, type JobType, Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import {
  checkKind,
  DEFAULT_MAX_DEPTH,
  DEFAULT_RETENTION_SECONDS,
  type EnqueueOptions,
  FINAL_STATES,
  JOB_KIND_PATTERN,
  type Job,
  type JobHandler,
  type JobQueue,
  type JobState,
  JobError,
  JobInterruptedError,
  JobTimeoutError,
  joinInput,
  redactedUrl,
  type ListOptions,
  QueueFullError,
  type QueueRetention,
  splitInput,
  sweepIntervalMs,
} from "./types.js";

const BULL_TYPES: Record<Exclude<JobState, "cancelled">, JobType[]> = {
  queued: ["waiting", "prioritized", "delayed", "waiting-children"],
  running: ["active"],
  done: ["completed"],
  failed: ["failed"],
};
const ALL_TYPES = Object.values(BULL_TYPES).flat();
const ACTIVE_TYPES = [...BULL_TYPES.queued, ...BULL_TYPES.running];
const POLL_MS = 50;
/** Finished jobs removed per kind and state by one sweep. */
const CLEAN_BATCH = 1000;

export class BullJobQueue implements JobQueue {
  private readonly prefix: string;
  private readonly maxDepth: number;
  private readonly connection: { url: string; maxRetriesPerRequest: null };
  private readonly redis: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  /** Jobs this process is running, by id, with the worker that runs them (to abort on cancel). */
  private readonly running = new Map<string, Worker>();
  private cancelPoll: NodeJS.Timeout | null = null;
  private readonly sweeper: NodeJS.Timeout;
  /** How long finished jobs and tombstones are kept (seconds). */
  private readonly keepSeconds: number;
  private closed = false;
  /** The connection's last error (e.g. ECONNREFUSED), for messages: failing commands only say "max retries". */
  private lastRedisError = "";

  constructor(redisUrl: string, opts: { prefix?: string; maxDepth?: number } & QueueRetention = {}) {
    if (!/^rediss?:\/\//.test(redisUrl)) throw new Error(`expected a Redis URL like redis://127.0.0.1:6379, got "${redisUrl}"`);
    this.prefix = opts.prefix ?? "captioner";
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.connection = { url: redisUrl, maxRetriesPerRequest: null };
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
    // Reported through connect() and the failing commands instead of crashing the process.
    this.redis.on("error", (error: Error) => (this.lastRedisError = error.message));
    this.keepSeconds = opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.sweeper = setInterval(() => void this.sweep().catch(() => {}), sweepIntervalMs(this.keepSeconds)).unref();
  }

  /** Checks that Redis answers, so a wrong URL fails at start-up with a clear message. */
  async connect(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([this.redis.ping(), timeout]);
    } catch (error) {
      const reason = this.lastRedisError || (error as Error).message;
      throw new Error(`cannot reach Redis at ${redactedUrl(this.connection.url)}: ${reason}; is redis-server running, and is the URL right?`);
    } finally {
      clearTimeout(timer);
    }
  }

  async enqueue<P>(kind: string, payload: P, opts: EnqueueOptions = {}): Promise<Job<P>> {
    if (this.closed) throw new Error("the job queue is closed; cannot enqueue");
    checkKind(kind);
    const maxAttempts = opts.maxAttempts ?? 1;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a whole number ≥ 1, got ${maxAttempts}`);
    const depth = await this.depth();
    // Several API nodes may pass this check at once; the limit is a bound on growth, not an exact count.
    if (depth >= this.maxDepth) throw new QueueFullError(depth, this.maxDepth, Math.max(1, Math.min(60, Math.ceil(this.maxDepth / 100))));
    await this.redis.sadd(this.key("kinds"), kind);
    const jobId = `${kind}.${randomUUID()}`;
    const { kept, input } = splitInput(payload, opts.inputFields);
    // The input is stored first, so a worker never takes the job without it.
    if (input !== null) await this.redis.set(this.inputKey(jobId), JSON.stringify(input));
    const job = await this.queueFor(kind).add(kind, kept, {
      jobId,
      attempts: maxAttempts,
      removeOnComplete: { age: this.keepSeconds },
      removeOnFail: { age: this.keepSeconds },
    });
    return { ...toJob(job, "queued"), payload } as Job<P>;
  }

  async get(id: string): Promise<Job | null> {
    const kind = kindOf(id);
    // Only known kinds: every new kind would open (and keep) a BullMQ queue and its Redis connection.
    if (!kind || !(await this.isKnownKind(kind))) return null;
    const tombstone = await this.redis.get(this.key(`cancelled:${id}`));
    if (tombstone) return JSON.parse(tombstone) as Job;
    // State first: a job read after its state can only be further along (e.g. completed with its result).
    const queue = this.queueFor(kind);
    const state = await queue.getJobState(id);
    const job = state === "unknown" ? undefined : await queue.getJob(id);
    return job ? { ...toJob(job, stateOf(state)), payload: joinInput(job.data, await this.input(id)) } : null;
  }

  async list(opts: ListOptions = {}): Promise<Job[]> {
    const limit = opts.limit ?? 100;
    const kinds = opts.kind ? ((await this.isKnownKind(opts.kind)) ? [opts.kind] : []) : await this.kinds();
    const jobs: Job[] = [];
    if (!opts.state || opts.state === "cancelled") {
      const ids = await this.redis.zrevrange(this.key("cancelled"), 0, limit * 4);
      for (const id of ids) {
        const job = await this.get(id);
        if (job?.state === "cancelled" && kinds.includes(job.kind)) jobs.push(job);
      }
    }
    if (opts.state !== "cancelled") {
      const types = opts.state ? BULL_TYPES[opts.state] : ALL_TYPES;
      for (const kind of kinds) {
        for (const bull of await this.queueFor(kind).getJobs(types, 0, limit - 1, false)) {
          const job = bull?.id ? await this.get(bull.id) : null;
          if (job && (!opts.state || job.state === opts.state)) jobs.push(job);
        }
      }
    }
    // A cancelled job still finishing on a worker is both tombstoned and active in BullMQ: keep it once.
    const unique = [...new Map(jobs.map((j) => [j.id, j])).values()];
    return unique.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
  }

  async cancel(id: string): Promise<boolean> {
    const job = await this.get(id);
    if (!job || FINAL_STATES.includes(job.state)) return false;
    // The tombstone keeps the payload without its input, which goes now.
    const input = (await this.input(id)) ?? {};
    const kept = Object.fromEntries(Object.entries(job.payload as object).filter(([key]) => !(key in input)));
    const tombstone: Job = { ...job, payload: kept, state: "cancelled", updatedAt: new Date().toISOString() };
    await this.redis
      .multi()
      .set(this.key(`cancelled:${id}`), JSON.stringify(tombstone), "EX", this.keepSeconds)
      .zadd(this.key("cancelled"), Date.now(), id)
      .zremrangebyscore(this.key("cancelled"), 0, Date.now() - this.keepSeconds * 1000)
      .del(this.inputKey(id))
      .exec();
    // A waiting job is simply removed; an active one is locked, so its worker aborts it (see pollCancels).
    if (job.state === "queued") await this.queueFor(job.kind).remove(id).catch(() => 0);
    this.running.get(id)?.cancelJob(id, "cancelled");
    return true;
  }

  async work<P, R>(kind: string, handler: JobHandler<P, R>, opts: { concurrency?: number } = {}): Promise<void> {
    if (this.closed) throw new Error("the job queue is closed; cannot start a worker");
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a whole number ≥ 1, got ${concurrency}`);
    checkKind(kind);
    await this.redis.sadd(this.key("kinds"), kind);
    const worker: Worker = new Worker(
      kind,
      async (bull: BullJob, token?: string, signal?: AbortSignal) => {
        const id = bull.id!;
        // Cancelled between our cancel()'s check and its remove(): never start it.
        if (await this.redis.exists(this.key(`cancelled:${id}`))) throw new UnrecoverableError(`job ${id} was cancelled`);
        this.running.set(id, worker);
        let lastDetails: unknown = progressOf(bull).details ?? undefined;
        try {
          const ctx = {
            signal: signal ?? new AbortController().signal,
            progress: (fraction: number, details?: unknown) => {
              const p = Math.min(1, Math.max(0, Number(fraction) || 0));
              // BullMQ keeps one progress value per job: a number, or {fraction, details} once details were given.
              if (details !== undefined) lastDetails = details;
              return bull.updateProgress(lastDetails === undefined ? p : { fraction: p, details: lastDetails });
            },
          };
          const job = { ...toJob(bull, "running"), payload: joinInput(bull.data, await this.input(id)) };
          return await handler(job as Job<P, R>, ctx);
        } catch (error) {
          // A cancelled job must not be retried.
          if (await this.redis.exists(this.key(`cancelled:${id}`))) throw new UnrecoverableError(`job ${id} was cancelled`);
          if (error instanceof JobInterruptedError) {
            // This process is stopping: the worker takes no more jobs (a claim would only be interrupted again)...
            void worker.close().catch(() => {});
            // ...and the job goes back to waiting (BullMQ's way: delayed until now, then DelayedError), its start given back.
            await this.redis.hincrby(`${bull.queueQualifiedName}:${id}`, "ats", -1);
            await bull.moveToDelayed(Date.now(), token);
            throw new DelayedError();
          }
          throw error;
        } finally {
          this.running.delete(id);
        }
      },
      { connection: this.connection, prefix: this.prefix, concurrency },
    );
    worker.on("error", (error) => process.stderr.write(`captioner: job worker (${kind}): ${error.message}\n`));
    // A job's input goes when it ends: done, or failed with no retry left (a retry needs it again).
    worker.on("completed", (bull) => void this.dropInput(bull.id).catch(() => {}));
    worker.on("failed", (bull) => {
      if (!bull?.id) return;
      void this.queueFor(kind)
        .getJobState(bull.id)
        .then((state) => (state === "failed" ? this.dropInput(bull.id) : undefined))
        .catch(() => {});
    });
    this.workers.push(worker);
    this.cancelPoll ??= setInterval(() => void this.pollCancels().catch(() => {}), 500);
    await worker.waitUntilReady();
  }

  async waitFor(id: string, timeoutMs = 60_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get(id);
      if (!job) throw new JobError(`no job with id ${id}`);
      if (FINAL_STATES.includes(job.state)) return job;
      const left = deadline - Date.now();
      if (left <= 0) throw new JobTimeoutError(id, timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, POLL_MS)));
    }
  }

  async depth(): Promise<number> {
    let total = 0;
    for (const kind of await this.kinds()) {
      const counts = await this.queueFor(kind).getJobCounts(...ACTIVE_TYPES);
      total += Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return total;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.cancelPoll) clearInterval(this.cancelPoll);
    clearInterval(this.sweeper);
    // Worker.close() waits for the active jobs to finish; waiting jobs stay in Redis.
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    if (this.redis.status === "ready") await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  /**
   * Removes finished jobs past the retention (and any input left behind, e.g. by a worker that
   * stopped between a job's end and its event); returns how many were removed. Runs on a timer.
   */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const kind of await this.kinds()) {
      for (const type of ["completed", "failed"] as const) {
        const ids = await this.queueFor(kind).clean(this.keepSeconds * 1000, CLEAN_BATCH, type);
        if (ids.length > 0) await this.redis.del(...ids.map((id) => this.inputKey(id)));
        removed += ids.length;
      }
    }
    return removed;
  }

  private key(name: string): string {
    return `${this.prefix}:captioner:${name}`;
  }

  private inputKey(id: string): string {
    return this.key(`input:${id}`);
  }

  /** A job's input while it has one. */
  private async input(id: string): Promise<Record<string, unknown> | null> {
    const text = await this.redis.get(this.inputKey(id));
    return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
  }

  private async dropInput(id: string | undefined): Promise<void> {
    if (id) await this.redis.del(this.inputKey(id));
  }

  private async kinds(): Promise<string[]> {
    return (await this.redis.smembers(this.key("kinds"))).filter((k) => JOB_KIND_PATTERN.test(k)).sort();
  }

  /** A kind some process enqueued or worked (so its queue exists); nothing else gets a queue from `get`/`list`. */
  private async isKnownKind(kind: string): Promise<boolean> {
    return this.queues.has(kind) || (JOB_KIND_PATTERN.test(kind) && (await this.redis.sismember(this.key("kinds"), kind)) === 1);
  }

  private queueFor(kind: string): Queue {
    checkKind(kind);
    let queue = this.queues.get(kind);
    if (!queue) {
      queue = new Queue(kind, { connection: this.connection, prefix: this.prefix });
      queue.on("error", () => {});
      this.queues.set(kind, queue);
    }
    return queue;
  }

  /** Aborts handlers of this process whose job was cancelled by another process. */
  private async pollCancels(): Promise<void> {
    for (const [id, worker] of this.running) {
      if (await this.redis.exists(this.key(`cancelled:${id}`))) worker.cancelJob(id, "cancelled");
    }
  }
}

/** A job id as `enqueue` makes it: "<kind>.<uuid>" (randomUUID: lower-case hex). */
const JOB_ID_PATTERN = /^(.+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The kind encoded in a job id "<kind>.<uuid>", or null for an id this queue never made. */
function kindOf(id: string): string | null {
  const kind = JOB_ID_PATTERN.exec(id)?.[1];
  return kind !== undefined && JOB_KIND_PATTERN.test(kind) ? kind : null;
}

function stateOf(bullState: string): JobState {
  if (bullState === "active") return "running";
  if (bullState === "completed") return "done";
  if (bullState === "failed") return "failed";
  return "queued";
}

/** BullMQ's progress value: a fraction, or `{fraction, details}` (see work()). */
function progressOf(bull: BullJob): { fraction: number; details: unknown } {
  const p = bull.progress as unknown;
  if (typeof p === "number") return { fraction: p, details: null };
  if (typeof p === "object" && p !== null && "fraction" in p) return { fraction: Number((p as { fraction: unknown }).fraction) || 0, details: (p as { details?: unknown }).details ?? null };
  return { fraction: 0, details: null };
}

function toJob(bull: BullJob, state: JobState): Job {
  const updated = Math.max(bull.timestamp, bull.processedOn ?? 0, bull.finishedOn ?? 0);
  return {
    id: bull.id!,
    kind: bull.name,
    payload: bull.data,
    state,
    progress: state === "done" ? 1 : progressOf(bull).fraction,
    details: progressOf(bull).details,
    result: state === "done" ? (bull.returnvalue ?? null) : null,
    error: bull.failedReason || null,
    attempts: bull.attemptsStarted ?? bull.attemptsMade ?? 0,
    createdAt: new Date(bull.timestamp).toISOString(),
    updatedAt: new Date(updated).toISOString(),
  };
}
