// Admin-only routes: reload (download + load) a model as a queued job, list the queue's jobs.
import type { FastifyInstance } from "fastify";
import { enqueueJob, jobView, RELOAD_JOB } from "../../serving/jobs/index.js";
import { UnknownModelError } from "../../serving/registry.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { errors, jobSchema } from "../schemas.js";

export async function adminRoutes(app: FastifyInstance): Promise<void> {
  const { queue, registry, captions } = app.services;
  app.post<{ Params: { name: string } }>(
    "/v1/admin/models/:name/reload",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin"],
        summary: "Download (if it is a hub model) and reload a configured model, as a queued job",
        description: "The old model keeps serving until the new one is loaded. Poll GET /v1/jobs/{id}.",
        security: security("admin"),
        params: { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1, maxLength: 64 } } },
        response: { 202: jobSchema, ...errors(401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!registry.has(name)) throw new UnknownModelError(name, registry.names());
      if (captions.mode === "remote") throw new ApiError(409, "models_on_workers", `in --redis mode the workers load the models; restart the workers to reload "${name}"`);
      const job = await enqueueJob(queue, RELOAD_JOB, { model: name });
      return reply.code(202).header("location", `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.get<{ Querystring: { kind?: string; state?: "queued" | "running" | "done" | "failed" | "cancelled"; limit?: number } }>(
    "/v1/admin/jobs",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin"],
        summary: "List jobs, newest first",
        security: security("admin"),
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            kind: { type: "string", description: "caption, model.reload, draft, eval" },
            state: { type: "string", enum: ["queued", "running", "done", "failed", "cancelled"] },
            limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: { type: "object", required: ["jobs"], properties: { jobs: { type: "array", items: jobSchema } } }, ...errors(400, 401, 403) },
      },
    },
    async (request) => ({ jobs: (await queue.list(request.query)).map(jobView) }),
  );
}
