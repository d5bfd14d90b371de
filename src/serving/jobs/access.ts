// Who may see (and, once there is a route for it, cancel) which job. Admins: every job. Others: jobs
// of the kinds users submit, when their key submitted them. A job submitted while the server had no
// keys belongs to no key: it stays open while the server has none, and once keys exist only admins
// see it (a key created later must not read what anonymous callers sent before). Everyone else is
// told there is no such job, so a job id does not even reveal that another key's job exists.
import type { ApiKeyInfo } from "../auth.js";
import type { Job, JobQueue } from "../queue/types.js";
import { CAPTION_JOB, type CaptionJobResult, type OwnedPayload } from "./kinds.js";

/** Kinds users submit themselves; every other kind (model reloads, later training) is admin business. */
const USER_KINDS: ReadonlySet<string> = new Set([CAPTION_JOB]);

/** The caller of a request: its verified key, or null (no key needed: the server has none). */
export type Caller = Pick<ApiKeyInfo, "id" | "role"> | null;

export function mayAccessJob(job: Job, caller: Caller): boolean {
  if (caller?.role === "admin") return true;
  const owner = (job.payload as OwnedPayload | undefined)?.owner;
  // caller === null: the server has no keys (with keys, user routes need one).
  return USER_KINDS.has(job.kind) && (owner === undefined ? caller === null : owner === caller?.id);
}

/** The job `id` if `caller` may see it; null when it does not exist or is not theirs (the same answer). */
export async function findJobFor(queue: JobQueue, id: string, caller: Caller): Promise<Job | null> {
  const job = await queue.get(id);
  return job !== null && mayAccessJob(job, caller) ? job : null;
}

/** The payload fields that make `caller` a job's owner. */
export function ownedBy(caller: Caller): OwnedPayload {
  return caller ? { owner: caller.id } : {};
}

/** A job as callers see it: no payload (it holds the images), nor a worker's batch report (metrics only). */
export function jobView(job: Job) {
  const { payload: _payload, ...view } = job;
  if (job.kind !== CAPTION_JOB || job.result === null || typeof job.result !== "object") return view;
  const { batches: _batches, ...result } = job.result as CaptionJobResult;
  return { ...view, result };
}
