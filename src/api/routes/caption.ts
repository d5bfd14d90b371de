// POST /v1/captions: caption one or several images with a configured model and generation options.
// Multipart (files in field `image`, model and options as fields) or JSON (base64 images).
import type { FastifyInstance } from "fastify";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { type ApiCaptionOptions, base64ImagesSchema, captionOptionProperties, captionResultsSchema, errors, featureProperties, fileField, OPTION_KEYS } from "../schemas.js";
import { describeImages } from "../../serving/describe.js";
import { acceptMultipart, base64Images, captionOptions, type FeatureFields, featureRequest, jsonBody, multipartImages, requestImages, refuseWhenQueueFull, requireImageField } from "./input.js";

interface JsonBody extends FeatureFields {
  model?: string;
  images: string[];
  options?: ApiCaptionOptions;
}

export async function captionRoutes(app: FastifyInstance): Promise<void> {
  const { config, captions, defaultModel, restyler } = app.services;
  const limits = config.limits;
  await acceptMultipart(app, limits);
  const features = featureProperties(restyler.styles, config.llm.defaultStyle);
  const modelField = { type: "string", description: `a configured model name (GET /v1/models); default \`${defaultModel}\`` } as const;

  app.post<{ Body: JsonBody | (ApiCaptionOptions & { model?: string; image: Buffer | Buffer[] }) }>(
    "/v1/captions",
    {
      onRequest: [app.authorize("user"), refuseWhenQueueFull(captions)],
      preValidation: requireImageField(false),
      ...jsonBody(requestImages(limits)),
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
                  ...features,
                },
              },
            },
            "multipart/form-data": {
              schema: {
                type: "object",
                required: ["image"],
                additionalProperties: false,
                properties: { image: fileField(true, "image file(s): repeat the field for several"), model: modelField, ...captionOptionProperties(limits), ...features },
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
      let fields: FeatureFields;
      if (request.isMultipart()) {
        const form = body as Record<string, unknown>;
        fields = form as FeatureFields;
        model = (form.model as string | undefined) ?? defaultModel;
        images = multipartImages(form);
        options = Object.fromEntries(OPTION_KEYS.filter((k) => form[k] !== undefined).map((k) => [k, form[k]]));
      } else {
        if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
          throw new ApiError(415, "unsupported_content_type", "send multipart/form-data (files in field \"image\") or application/json ({images: [base64...]})");
        }
        const json = body as JsonBody;
        model = json.model ?? defaultModel;
        images = await base64Images(json.images);
        options = json.options ?? {};
        fields = json;
      }
      const results = await describeImages({ captions, restyler, limits }, model, images, captionOptions(options), featureRequest(fields));
      return { model, results };
    },
  );
}
