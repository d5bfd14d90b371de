// The job queue: one interface (types.ts), an embedded SQLite backend and a Redis + BullMQ backend.
import type { Database } from "../db.js";
import { BullJobQueue } from "./bullmq.js";
import { SqliteJobQueue } from "./sqlite.js";
import type { JobQueue } from "./types.js";

export * from "./types.js";
export { SqliteJobQueue } from "./sqlite.js";
export { BullJobQueue } from "./bullmq.js";

export interface OpenJobQueueOptions {
  /** Use Redis + BullMQ at this URL (scale-out); otherwise the SQLite queue in `db`. */
  redisUrl?: string;
  db?: Database;
  maxDepth?: number;
}

/** The queue a server or worker should use: BullMQ when `redisUrl` is given, else SQLite in `db`. */
export function openJobQueue(opts: OpenJobQueueOptions): JobQueue {
  if (opts.redisUrl) return new BullJobQueue(opts.redisUrl, { maxDepth: opts.maxDepth });
  if (!opts.db) throw new Error("openJobQueue needs either redisUrl (Redis + BullMQ) or db (embedded SQLite queue)");
  return new SqliteJobQueue(opts.db, { maxDepth: opts.maxDepth });
}
