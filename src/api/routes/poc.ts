// The proof of concept's route, unchanged for its clients: POST /image2caption/blip with one
// multipart file field `image` → {"caption": "..."}. It captions with the configured model named
// `blip`, or, when no model has that name, the first configured model.
import type { FastifyInstance } from "fastify";
import { errors, fileField } from "../schemas.js";
import { acceptMultipart, multipartImages, requireImageField } from "./input.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";

export async function pocRoutes(app: FastifyInstance): Promise<void> {
  const { config, captions, defaultModel } = app.services;
  await acceptMultipart(app, config.limits);
  app.post(
    "/image2caption/blip",
    {
      onRequest: app.authorize("user"),
      preValidation: requireImageField(true),
      schema: {
        tags: ["captions"],
        summary: "Caption one image (the proof of concept's API)",
        description: `Multipart form with one file field \`image\`. Uses the model named \`blip\`, else the first configured model (here: \`${defaultModel}\`).`,
        consumes: ["multipart/form-data"],
        security: security("user"),
        body: {
          content: {
            "multipart/form-data": {
              schema: { type: "object", required: ["image"], properties: { image: fileField(false, "the image file (PNG, JPEG, WebP or GIF)") } },
            },
          },
        },
        response: {
          200: {
            type: "object",
            required: ["caption"],
            properties: { caption: { type: "string" }, model: { type: "string", description: "the configured model that captioned it" } },
          },
          ...errors(400, 401, 403, 404, 413, 415, 503, 504),
        },
      },
    },
    async (request) => {
      if (!request.isMultipart()) {
        throw new ApiError(415, "unsupported_content_type", "send a multipart/form-data body with the file in field \"image\", e.g. curl -F 'image=@photo.jpg;type=image/jpeg'");
      }
      const [captionList] = await captions.caption(defaultModel, multipartImages(request.body as Record<string, unknown>), {});
      return { caption: captionList![0]!.text, model: defaultModel };
    },
  );
}
