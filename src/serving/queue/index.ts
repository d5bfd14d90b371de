// The job queue: one interface (types.ts), an embedded SQLite backend and a Redis + BullMQ backend.
import type { Database } from "../db.js";
import { SqliteJobQueue } from "./sqlite.js";
import type { JobQueue } from "./types.js";

export * from "./types.js";
export { SqliteJobQueue, type SweepReport } from "./sqlite.js";

export interface OpenJobQueueOptions {
  /** Use Redis + BullMQ at this URL (scale-out); otherwise the SQLite queue in `db`. */
  redisUrl?: string;
  db?: Database;
  maxDepth?: number;
  /** Seconds a finished job stays readable (default 7 days). */
  retentionSeconds?: number;
}

/**
 * The queue a server or worker should use: BullMQ when `redisUrl` is given, else SQLite in `db`.
 * Redis is checked before this resolves, so a wrong URL fails the start with a clear message.
 */
export async function openJobQueue(opts: OpenJobQueueOptions): Promise<JobQueue> {
  if (opts.redisUrl) {
    // Imported only here: BullMQ and ioredis cost a server without Redis ≈ 0.3 s of start-up.
    const { BullJobQueue } = await import("./bullmq.js");
    const bull = new BullJobQueue(opts.redisUrl, { maxDepth: opts.maxDepth, retentionSeconds: opts.retentionSeconds });
    try {
      await bull.connect();
    } catch (error) {
      await bull.close(); // stop its reconnect attempts, which would keep the process alive
      throw error;
    }
    return bull;
  }
  if (!opts.db) throw new Error("openJobQueue needs either redisUrl (Redis + BullMQ) or db (embedded SQLite queue)");
  return new SqliteJobQueue(opts.db, { maxDepth: opts.maxDepth, retentionSeconds: opts.retentionSeconds });
}
