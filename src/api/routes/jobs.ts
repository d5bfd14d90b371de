// Long-running captioning through the job queue: POST /v1/jobs/captions enqueues many images at
// once and answers 202 with the job; GET /v1/jobs/:id reports its state, progress and result.
import type { FastifyInstance } from "fastify";
import { CAPTION_JOB, enqueueJob, findJobFor, jobView, MAX_JOB_IMAGES, ownedBy, stagedUpload } from "../../serving/jobs/index.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { type ApiCaptionOptions, base64ImagesSchema, captionOptionProperties, errors, jobSchema } from "../schemas.js";
import { base64Images, captionOptions, jobImages, jsonBody, storedBase64 } from "./input.js";

export async function jobRoutes(app: FastifyInstance): Promise<void> {
  const { config, queue, captions, defaultModel } = app.services;
  app.post<{ Body: { model?: string; images: string[]; options?: ApiCaptionOptions } }>(
    "/v1/jobs/captions",
    {
      onRequest: app.authorize("user"),
      ...jsonBody(jobImages(config.limits)),
      schema: {
        tags: ["jobs"],
        summary: "Caption many images as a background job",
        description: `Up to ${MAX_JOB_IMAGES} base64 images, ${config.limits.maxJobBytes} bytes of images in all (maxJobBytes); poll GET /v1/jobs/{id} for progress and the captions.`,
        security: security("user"),
        body: {
          type: "object",
          required: ["images"],
          additionalProperties: false,
          properties: {
            model: { type: "string", description: `a configured model name; default \`${defaultModel}\`` },
            images: base64ImagesSchema(MAX_JOB_IMAGES),
            options: { type: "object", additionalProperties: false, properties: captionOptionProperties(config.limits) },
          },
        },
        response: { 202: jobSchema, ...errors(400, 401, 403, 404, 413, 415, 503) },
      },
    },
    async (request, reply) => {
      const model = request.body.model ?? defaultModel;
      const options = captionOptions(request.body.options ?? {});
      const images = await base64Images(request.body.images);
      const total = images.reduce((sum, bytes) => sum + bytes.length, 0);
      // The body limit allows slack for the JSON around the images; the rule itself is exact.
      if (total > config.limits.maxJobBytes) throw new ApiError(413, "job_too_large", `the job's ${images.length} images are ${total} bytes in all; a job may carry ${jobImages(config.limits).rule}: split them into several jobs`);
      // The checks of POST /v1/captions, so a job is refused up front for what a request would be refused for.
      await captions.check(model, images, options, { maxImages: MAX_JOB_IMAGES });
      const payload = { model, images: images.map((bytes, i) => storedBase64(request.body.images[i]!, bytes)), options, ...ownedBy(request.apiKey) };
      const job = await enqueueJob(queue, CAPTION_JOB, payload);
      return reply.code(202).header("location", `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/jobs/:id",
    {
      onRequest: app.authorize("user"),
      schema: {
        tags: ["jobs"],
        summary: "A job's state, progress and result",
        security: security("user"),
        params: { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 200 } } },
        response: { 200: jobSchema, ...errors(401, 403, 404) },
      },
    },
    async (request) => {
      const job = await findJobFor(queue, request.params.id, request.apiKey);
      if (!job) throw new ApiError(404, "job_not_found", `no job ${request.params.id}; job ids come from POST /v1/jobs/captions`);
      return jobView(job);
    },
  );

  app.post<{ Params: { id: string } }>(
    "/v1/jobs/:id/cancel",
    {
      onRequest: app.authorize("user"),
      schema: {
        tags: ["jobs"],
        summary: "Cancel a queued or running job",
        description: "A queued job never starts; a running one is stopped (a train job at its next step, its files removed). Cancelling a cancelled job answers the same; a finished job is 409. Who may read a job may cancel it.",
        security: security("user"),
        params: { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 200 } } },
        response: { 200: jobSchema, ...errors(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const job = await findJobFor(queue, id, request.apiKey);
      if (!job) throw new ApiError(404, "job_not_found", `no job ${id}; GET /v1/admin/jobs lists jobs (admins)`);
      if (job.state === "done" || job.state === "failed") throw new ApiError(409, "job_finished", `job ${id} already ${job.state === "done" ? "finished" : "failed"}; there is nothing to cancel`);
      if (job.state !== "cancelled") await queue.cancel(id);
      // A cancelled upload import never reads its staged file (a running one stops; its own cleanup races harmlessly).
      const staged = stagedUpload(job);
      if (staged) await app.services.importStaging.remove(staged);
      return jobView((await queue.get(id)) ?? job);
    },
  );
}
