// Long-running captioning through the job queue: POST /v1/jobs/captions enqueues many images at
// once and answers 202 with the job; GET /v1/jobs/:id reports its state, progress and result.
import type { FastifyInstance } from "fastify";
import type { Job } from "../../serving/queue/types.js";
import { checkOptionLimits, InputError } from "../../serving/caption_service.js";
import { sniffImageFormat } from "../../preprocess/image.js";
import { CAPTION_JOB, type CaptionJobPayload } from "../../serving/remote_caption.js";
import { UnknownModelError } from "../../serving/registry.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { type ApiCaptionOptions, base64ImagesSchema, captionOptionProperties, errors, jobSchema } from "../schemas.js";
import { base64Images, captionOptions, jsonBodyLimit } from "./input.js";

/** Most images in one caption job. */
export const MAX_JOB_IMAGES = 1000;

/** A job as the API shows it: no payload (it holds the images). */
export function jobView(job: Job) {
  const { payload: _payload, ...view } = job;
  return view;
}

export async function jobRoutes(app: FastifyInstance): Promise<void> {
  const { config, queue, registry, defaultModel } = app.services;
  app.post<{ Body: { model?: string; images: string[]; options?: ApiCaptionOptions } }>(
    "/v1/jobs/captions",
    {
      onRequest: app.authorize("user"),
      bodyLimit: jsonBodyLimit(config.limits, config.limits.maxImagesPerRequest),
      schema: {
        tags: ["jobs"],
        summary: "Caption many images as a background job",
        description: `Up to ${MAX_JOB_IMAGES} base64 images; poll GET /v1/jobs/{id} for progress and the captions.`,
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
      if (!registry.has(model)) throw new UnknownModelError(model, registry.names());
      const options = captionOptions(request.body.options ?? {});
      checkOptionLimits(options, config.limits);
      const images = base64Images(request.body.images);
      images.forEach((bytes, i) => {
        if (bytes.length === 0) throw new InputError(400, "empty_image", `images[${i}] is empty (0 bytes)`);
        if (bytes.length > config.limits.maxUploadBytes) throw new InputError(413, "image_too_large", `images[${i}] is ${bytes.length} bytes, more than the ${config.limits.maxUploadBytes}-byte limit (maxUploadBytes)`);
        if (!sniffImageFormat(bytes)) throw new InputError(415, "unsupported_image_format", `images[${i}] is not a PNG, JPEG, WebP or GIF file`);
      });
      const payload: CaptionJobPayload = { model, images: images.map((b) => Buffer.from(b).toString("base64")), options };
      if (request.apiKey) payload.owner = request.apiKey.id;
      const job = await queue.enqueue(CAPTION_JOB, payload);
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
      const job = await queue.get(request.params.id);
      // Users see their own caption jobs; other kinds (model reloads, later training) are admin business.
      const admin = request.apiKey?.role === "admin";
      const owner = (job?.payload as CaptionJobPayload | undefined)?.owner;
      const visible = job !== null && (admin || (job.kind === CAPTION_JOB && (owner === undefined || owner === request.apiKey?.id)));
      if (!visible) throw new ApiError(404, "job_not_found", `no job ${request.params.id}; job ids come from POST /v1/jobs/captions`);
      return jobView(job);
    },
  );
}
