// GET /v1/jobs/{id}/events: a job's state as server-sent events (issue 14's live progress), for the
// admin console and anyone who would rather not poll. The queue has no change notifications on both
// backends, so this route polls it on the server, one cheap get() per tick, and sends an event only
// when the job changed; the stream ends once the job is done, failed or cancelled.
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import { findJobFor, jobView } from "../../serving/jobs/index.js";
import type { Job } from "../../serving/queue/types.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { errors } from "../schemas.js";

/** How often the queue is asked for the job. */
const TICK_MS = 250;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

const settled = (job: Job) => job.state === "done" || job.state === "failed" || job.state === "cancelled";
const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

export async function jobEventRoutes(app: FastifyInstance): Promise<void> {
  const { queue } = app.services;
  let closing = false;
  app.addHook("onClose", async () => {
    closing = true; // open streams end at their next tick instead of holding the server open
  });

  /** `job` events (the GET /v1/jobs/{id} body) on each change, then `end`. */
  async function* events(first: Job): AsyncGenerator<string> {
    let last = JSON.stringify(jobView(first));
    yield `retry: 2000\n${event("job", jobView(first))}`;
    let job: Job | null = first;
    let quiet = 0;
    while (!settled(job) && !closing) {
      await sleep(TICK_MS);
      job = await queue.get(first.id);
      if (job === null) break; // removed from the queue meanwhile
      const now = JSON.stringify(jobView(job));
      if (now !== last) {
        last = now;
        quiet = 0;
        yield event("job", jobView(job));
      } else if ((quiet += TICK_MS) >= KEEPALIVE_MS) {
        quiet = 0;
        yield ": keep-alive\n\n";
      }
    }
    yield event("end", { id: first.id, state: job?.state ?? "gone" });
  }

  app.get<{ Params: { id: string } }>(
    "/v1/jobs/:id/events",
    {
      onRequest: app.authorize("user"),
      schema: {
        tags: ["jobs"],
        summary: "A job's state and progress as server-sent events, until it is finished",
        description:
          "`text/event-stream`: an event `job` (data: the body of GET /v1/jobs/{id}) now and at each change, then an event `end` " +
          "(data: `{id, state}`) when the job is done, failed or cancelled, and the stream closes. Same access rule as GET /v1/jobs/{id}.",
        security: security("user"),
        params: { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 200 } } },
        response: {
          200: { description: "the event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const job = await findJobFor(queue, request.params.id, request.apiKey);
      if (!job) throw new ApiError(404, "job_not_found", `no job ${request.params.id}; job ids come from the routes that start jobs (e.g. POST /v1/jobs/captions)`);
      return reply
        .type("text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no") // nginx: pass each event on at once
        .send(Readable.from(events(job), { objectMode: false }));
    },
  );
}
