// POST /v1/captions: caption one or several images with a configured model and generation options.
// Multipart (files in field `image`, model and options as fields) or JSON (base64 images).
import type { FastifyInstance } from "fastify";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { type ApiCaptionOptions, base64ImagesSchema, captionOptionProperties, captionResultsSchema, errors, fileField, OPTION_KEYS } from "../schemas.js";
import { acceptMultipart, base64Images, captionOptions, jsonBodyLimit, multipartImages, requireImageField } from "./input.js";

interface JsonBody {
  model?: string;
  images: string[];
  options?: ApiCaptionOptions;
}

export async function captionRoutes(app: FastifyInstance): Promise<void> {
  const { config, captions, defaultModel } = app.services;
  const limits = config.limits;
  await acceptMultipart(app, limits);
  const modelField = { type: "string", description: `a configured model name (GET /v1/models); default \`${defaultModel}\`` } as const;

  app.post<{ Body: JsonBody | (ApiCaptionOptions & { model?: string; image: Buffer | Buffer[] }) }>(
    "/v1/captions",
    {
      onRequest: app.authorize("user"),
      preValidation: requireImageField(false),
      bodyLimit: jsonBodyLimit(limits, limits.maxImagesPerRequest),
      schema: {
        tags: ["captions"],
        summary: "Caption one or several images",
        description:
          `Up to ${limits.maxImagesPerRequest} images per request, each ≤ ${limits.maxUploadBytes} bytes and ≤ ${limits.maxPixels} pixels. ` +
          "Concurrent requests with the same model and options are captioned together (dynamic batching).",
        security: security("user"),
        body: {
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["images"],
                additionalProperties: false,
                properties: {
                  model: modelField,
                  images: base64ImagesSchema(limits.maxImagesPerRequest),
                  options: { type: "object", additionalProperties: false, properties: captionOptionProperties(limits) },
                },
              },
            },
            "multipart/form-data": {
              schema: {
                type: "object",
                required: ["image"],
                additionalProperties: false,
                properties: { image: fileField(true, "image file(s): repeat the field for several"), model: modelField, ...captionOptionProperties(limits) },
              },
            },
          },
        },
        response: { 200: captionResultsSchema, ...errors(400, 401, 403, 404, 413, 415, 502, 503, 504) },
      },
    },
    async (request) => {
      const body = request.body;
      let model: string;
      let images: Uint8Array[];
      let options: ApiCaptionOptions;
      if (request.isMultipart()) {
        const fields = body as Record<string, unknown>;
        model = (fields.model as string | undefined) ?? defaultModel;
        images = multipartImages(fields);
        options = Object.fromEntries(OPTION_KEYS.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]));
      } else {
        if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
          throw new ApiError(415, "unsupported_content_type", "send multipart/form-data (files in field \"image\") or application/json ({images: [base64...]})");
        }
        const json = body as JsonBody;
        model = json.model ?? defaultModel;
        images = base64Images(json.images);
        options = json.options ?? {};
      }
      const results = await captions.caption(model, images, captionOptions(options));
      return { model, results: results.map((list) => ({ captions: list })) };
    },
  );
}
