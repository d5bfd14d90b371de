// What a job handler is: the kind it serves, the function, and how many jobs of that kind it runs at once.
import type { JobHandler, JobQueue } from "../queue/types.js";
import type { JobKind, PayloadOf, ResultOf } from "./kinds.js";

export interface JobHandlerSpec<K extends JobKind = JobKind> {
  kind: K;
  handle: JobHandler<PayloadOf<K>, ResultOf<K>>;
  /** Jobs of this kind run at once by this process (default 1). */
  concurrency?: number;
}

/** A handler of any kind (a list of these is what a process serves). */
export type AnyJobHandler = { [K in JobKind]: JobHandlerSpec<K> }[JobKind];

/** Starts consuming every handler's kind on `queue`; resolves once all are ready. */
export async function serveJobs(queue: JobQueue, handlers: readonly AnyJobHandler[]): Promise<void> {
  const kinds = handlers.map((h) => h.kind);
  const twice = kinds.find((kind, i) => kinds.indexOf(kind) !== i);
  if (twice) throw new Error(`two handlers for job kind "${twice}"`);
  for (const h of handlers) await queue.work(h.kind, h.handle as JobHandler<unknown, unknown>, { concurrency: h.concurrency });
}
