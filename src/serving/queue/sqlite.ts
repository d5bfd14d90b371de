// The embedded job queue: jobs are rows of the server's SQLite file, so they survive restarts. One
// process owns the file (the embedded server); workers in that process are woken at once on enqueue
// and otherwise poll every `pollMs`. Claiming a job is one IMMEDIATE transaction, so it is atomic.
// A job's input (its images) lives in its own column, cleared in the same statement that ends the
// job; finished jobs are deleted after the retention, and the freed pages go back to the file system
// (see `sweep`).
import { randomUUID } from "node:crypto";
import type { Database } from "../db.js";
import {
  checkKind,
  DEFAULT_MAX_DEPTH,
  DEFAULT_RETENTION_SECONDS,
  type EnqueueOptions,
  errorMessage,
  FINAL_STATES,
  type Job,
  type JobHandler,
  type JobQueue,
  type JobState,
  JobError,
  JobInterruptedError,
  JobTimeoutError,
  joinInput,
  type ListOptions,
  QueueFullError,
  type QueueRetention,
  splitInput,
  sweepIntervalMs,
} from "./types.js";

interface JobRow {
  id: string;
  kind: string;
  payload: string;
  /** The payload's input fields (JSON), NULL once the job ended. */
  input: string | null;
  state: JobState;
  progress: number;
  details: string | null;
  result: string | null;
  error: string | null;
  attempts: number;
  max_attempts: number;
  created_at: string;
  updated_at: string;
}

/** A job the process stopped during more than this many times beyond its maxAttempts is failed, not re-queued. */
const MAX_CRASH_RECOVERIES = 3;

/** Pages given back to the file system per sweep (25,600 × 4 KiB = 100 MiB), so one sweep never blocks for long. */
const VACUUM_PAGES_PER_SWEEP = 25_600;

/** What one sweep did. */
export interface SweepReport {
  /** Finished jobs past their retention, deleted. */
  removed: number;
  /** Free pages returned to the file system. */
  freedPages: number;
}

export class SqliteJobQueue implements JobQueue {
  private readonly maxDepth: number;
  private readonly pollMs: number;
  /** `stopped`: a handler of the kind was interrupted (its process is stopping), so the kind is not claimed again here. */
  private readonly workers: { kind: string; concurrency: number; handler: JobHandler<any, any>; running: number; stopped: boolean }[] = [];
  /** Running handlers of this process, by job id: their abort controllers and completion promises. */
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  /** Resolvers of `waitFor` calls, woken whenever a job of this process changes state. */
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly sweeper: NodeJS.Timeout;
  private readonly retentionMs: number;
  private closed = false;

  constructor(
    private readonly db: Database,
    opts: { maxDepth?: number; pollMs?: number } & QueueRetention = {},
  ) {
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.pollMs = opts.pollMs ?? 200;
    const retentionSeconds = opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.retentionMs = retentionSeconds * 1000;
    this.recoverInterrupted();
    // unref: the sweeper alone never keeps a process alive.
    this.sweeper = setInterval(() => this.db.open && this.sweep(), sweepIntervalMs(retentionSeconds)).unref();
  }

  async enqueue<P>(kind: string, payload: P, opts: EnqueueOptions = {}): Promise<Job<P>> {
    if (this.closed) throw new Error("the job queue is closed; cannot enqueue");
    checkKind(kind);
    const maxAttempts = opts.maxAttempts ?? 1;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a whole number ≥ 1, got ${maxAttempts}`);
    const now = new Date().toISOString();
    const { kept, input } = splitInput(payload, opts.inputFields);
    const row: JobRow = { id: randomUUID(), kind, payload: JSON.stringify(kept), input: input === null ? null : JSON.stringify(input), state: "queued", progress: 0, details: null, result: null, error: null, attempts: 0, max_attempts: maxAttempts, created_at: now, updated_at: now };
    if (row.payload === undefined) throw new TypeError("a job payload must be JSON-serialisable");
    this.db.transaction(() => {
      const depth = this.countActive();
      if (depth >= this.maxDepth) throw new QueueFullError(depth, this.maxDepth, this.retryAfterSeconds());
      this.db
        .prepare("INSERT INTO jobs (id, kind, payload, input, state, progress, attempts, max_attempts, created_at, updated_at) VALUES (@id, @kind, @payload, @input, @state, @progress, @attempts, @max_attempts, @created_at, @updated_at)")
        .run(row);
    }).immediate();
    setImmediate(() => this.pump());
    return toJob(row) as Job<P>;
  }

  async get(id: string): Promise<Job | null> {
    const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  async list(opts: ListOptions = {}): Promise<Job[]> {
    const rows = this.db
      .prepare("SELECT * FROM jobs WHERE (@kind IS NULL OR kind = @kind) AND (@state IS NULL OR state = @state) ORDER BY rowid DESC LIMIT @limit")
      .all({ kind: opts.kind ?? null, state: opts.state ?? null, limit: opts.limit ?? 100 }) as JobRow[];
    return rows.map(toJob);
  }

  async cancel(id: string): Promise<boolean> {
    const changed = this.db.prepare("UPDATE jobs SET state = 'cancelled', input = NULL, updated_at = ? WHERE id = ? AND state IN ('queued', 'running')").run(new Date().toISOString(), id).changes > 0;
    this.running.get(id)?.abort.abort(new Error(`job ${id} was cancelled`));
    if (changed) this.notify();
    return changed;
  }

  async work<P, R>(kind: string, handler: JobHandler<P, R>, opts: { concurrency?: number } = {}): Promise<void> {
    if (this.closed) throw new Error("the job queue is closed; cannot start a worker");
    checkKind(kind);
    const concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a whole number ≥ 1, got ${concurrency}`);
    this.workers.push({ kind, concurrency, handler, running: 0, stopped: false });
    this.timer ??= setInterval(() => this.tick(), this.pollMs);
    this.pump();
  }

  async waitFor(id: string, timeoutMs = 60_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get(id);
      if (!job) throw new JobError(`no job with id ${id}`);
      if (FINAL_STATES.includes(job.state)) return job;
      const left = deadline - Date.now();
      if (left <= 0) throw new JobTimeoutError(id, timeoutMs);
      // Woken by this process's state changes; the poll catches changes made by other processes.
      await new Promise<void>((resolve) => {
        const wake = () => (clearTimeout(timer), this.waiters.delete(wake), resolve());
        const timer = setTimeout(wake, Math.min(left, this.pollMs));
        this.waiters.add(wake);
      });
    }
  }

  async depth(): Promise<number> {
    return this.countActive();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /**
   * Deletes finished jobs whose retention is over, then gives free pages back to the file system
   * (the database uses auto_vacuum = INCREMENTAL, see db.ts) and truncates the WAL, so the files
   * shrink. Runs on a timer; callable directly (tests, tools).
   */
  sweep(now = Date.now()): SweepReport {
    const cutoff = new Date(now - this.retentionMs).toISOString();
    const removed = this.db.prepare("DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND updated_at <= ?").run(cutoff).changes;
    const free = this.db.pragma("freelist_count", { simple: true }) as number;
    if (free > 0) this.db.pragma(`incremental_vacuum(${VACUUM_PAGES_PER_SWEEP})`);
    const freedPages = free - (this.db.pragma("freelist_count", { simple: true }) as number);
    // A WAL only shrinks when truncated; readers in other connections may postpone it to a later sweep.
    if (freedPages > 0 || removed > 0) this.db.pragma("wal_checkpoint(TRUNCATE)");
    return { removed, freedPages };
  }

  /** Jobs left `running` by a process that stopped go back to `queued` (their attempt stays counted). */
  private recoverInterrupted(): void {
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare("UPDATE jobs SET state = 'failed', input = NULL, error = 'the process stopped while running this job, too many times', updated_at = ? WHERE state = 'running' AND attempts >= max_attempts + ?")
        .run(now, MAX_CRASH_RECOVERIES);
      this.db.prepare("UPDATE jobs SET state = 'queued', progress = 0, updated_at = ? WHERE state = 'running'").run(now);
    }).immediate();
  }

  private countActive(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running')").get() as { n: number }).n;
  }

  /** A rough hint for Retry-After: the queue drains at some seconds per job; 1 s minimum. */
  private retryAfterSeconds(): number {
    return Math.max(1, Math.min(60, Math.ceil(this.maxDepth / 100)));
  }

  /** A write from a handler's life cycle; skipped if the owner already closed the database (nothing to record into). */
  private update(sql: string, ...args: unknown[]): void {
    if (this.db.open) this.db.prepare(sql).run(...args);
  }

  private tick(): void {
    if (!this.db.open) return;
    this.abortCancelledElsewhere();
    this.pump();
  }

  /** Starts as many queued jobs as the workers have free slots for. */
  private pump(): void {
    if (this.closed || !this.db.open) return;
    for (const worker of this.workers) {
      while (!worker.stopped && worker.running < worker.concurrency) {
        const row = this.claim(worker.kind);
        if (!row) break;
        this.start(worker, row);
      }
    }
  }

  /** Atomically moves the oldest queued job of `kind` to `running`. */
  private claim(kind: string): JobRow | null {
    return this.db.transaction(() => {
      const row = this.db.prepare("SELECT * FROM jobs WHERE state = 'queued' AND kind = ? ORDER BY rowid LIMIT 1").get(kind) as JobRow | undefined;
      if (!row) return null;
      const claimed = { ...row, state: "running" as const, attempts: row.attempts + 1, updated_at: new Date().toISOString() };
      this.db.prepare("UPDATE jobs SET state = 'running', attempts = ?, updated_at = ? WHERE id = ?").run(claimed.attempts, claimed.updated_at, row.id);
      return claimed;
    }).immediate();
  }

  private start(worker: (typeof this.workers)[number], row: JobRow): void {
    const abort = new AbortController();
    const job = toJob(row);
    worker.running++;
    const ctx = {
      signal: abort.signal,
      progress: async (fraction: number, details?: unknown) => {
        const p = Math.min(1, Math.max(0, Number(fraction) || 0));
        const json = details === undefined ? null : JSON.stringify(details);
        this.update("UPDATE jobs SET progress = ?, details = COALESCE(?, details), updated_at = ? WHERE id = ? AND state = 'running'", p, json, new Date().toISOString(), row.id);
      },
    };
    const done = (async () => {
      try {
        const result = await worker.handler(job, ctx);
        this.update("UPDATE jobs SET state = 'done', progress = 1, result = ?, error = NULL, input = NULL, updated_at = ? WHERE id = ? AND state = 'running'", JSON.stringify(result ?? null), new Date().toISOString(), row.id);
      } catch (error) {
        if (error instanceof JobInterruptedError) return this.requeueInterrupted(worker, row, error);
        // Retry while attempts remain; the error of the last try stays visible either way.
        const next: JobState = row.attempts < row.max_attempts ? "queued" : "failed";
        // A retry needs the input again; a failed job's input goes.
        this.update("UPDATE jobs SET state = ?, error = ?, input = CASE WHEN ? = 'failed' THEN NULL ELSE input END, updated_at = ? WHERE id = ? AND state = 'running'", next, errorMessage(error), next, new Date().toISOString(), row.id);
      } finally {
        worker.running--;
        this.running.delete(row.id);
        this.notify();
        setImmediate(() => this.pump());
      }
    })();
    this.running.set(row.id, { abort, done });
  }

  /**
   * An interrupted job goes back to the queue with its attempt given back (it did not fail), and its kind
   * is not claimed again by this process: it is stopping, and a claim would only be interrupted again.
   */
  private requeueInterrupted(worker: (typeof this.workers)[number], row: JobRow, error: JobInterruptedError): void {
    worker.stopped = true;
    this.update("UPDATE jobs SET state = 'queued', attempts = MAX(0, attempts - 1), error = ?, updated_at = ? WHERE id = ? AND state = 'running'", errorMessage(error), new Date().toISOString(), row.id);
  }

  /** Aborts running handlers whose job was cancelled through another connection to the file. */
  private abortCancelledElsewhere(): void {
    for (const [id, { abort }] of this.running) {
      const row = this.db.prepare("SELECT state FROM jobs WHERE id = ?").get(id) as { state: JobState } | undefined;
      if (row?.state !== "running") abort.abort(new Error(`job ${id} was cancelled`));
    }
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    payload: joinInput(JSON.parse(row.payload), row.input === null ? null : JSON.parse(row.input)),
    state: row.state,
    progress: row.progress,
    details: row.details === null || row.details === undefined ? null : JSON.parse(row.details),
    result: row.result === null ? null : JSON.parse(row.result),
    error: row.error,
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
