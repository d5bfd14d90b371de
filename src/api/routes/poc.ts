// The proof of concept's route, unchanged for its clients: POST /image2caption/blip with one
// multipart file field `image` → {"caption": "..."}. It captions with the configured model named
// `blip`, or, when no model has that name, the first configured model. Every other configured model
// NAME gets the same route as POST /image2caption/NAME (e.g. `blip2`). Query parameters
// (`features`, `style`, `exif_transpose`) add tags, colours and a description; without them the
// answer is exactly the PoC's.
import type { FastifyInstance } from "fastify";
import { errors, featureProperties, featureResultProperties, fileField } from "../schemas.js";
import { describeImages } from "../../serving/describe.js";
import { acceptMultipart, type FeatureFields, featureRequest, multipartImages, refuseWhenQueueFull, requireImageField } from "./input.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";

export async function pocRoutes(app: FastifyInstance): Promise<void> {
  const { config, defaultModel } = app.services;
  await acceptMultipart(app, config.limits);
  captionRoute(app, "blip", defaultModel, `Uses the model named \`blip\`, else the first configured model (here: \`${defaultModel}\`).`);
  for (const name of Object.keys(config.models)) {
    if (name !== "blip") captionRoute(app, name, name, `Uses the configured model \`${name}\`.`);
  }
}

/** `POST /image2caption/<path>` captioning with the configured model `model`. */
function captionRoute(app: FastifyInstance, pathName: string, model: string, which: string): void {
  const { config, captions, restyler } = app.services;
  app.post<{ Querystring: FeatureFields }>(
    `/image2caption/${pathName}`,
    {
      onRequest: [app.authorize("user"), refuseWhenQueueFull(captions)],
      preValidation: requireImageField(true),
      schema: {
        tags: ["captions"],
        summary: pathName === "blip" ? "Caption one image (the proof of concept's API)" : `Caption one image with the model \`${model}\` (the proof of concept's API)`,
        description: `Multipart form with one file field \`image\`. ${which} ` +
          "Query parameters `features`, `style` and `exif_transpose` add tags, colours and a description.",
        consumes: ["multipart/form-data"],
        security: security("user"),
        querystring: { type: "object", additionalProperties: false, properties: featureProperties(restyler.styles, config.llm.defaultStyle) },
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
            properties: {
              caption: { type: "string", description: "present unless features leaves out caption" },
              model: { type: "string", description: "the configured model that captioned it" },
              ...featureResultProperties,
            },
          },
          ...errors(400, 401, 403, 404, 413, 415, 503, 504),
        },
      },
    },
    async (request) => {
      if (!request.isMultipart()) {
        throw new ApiError(415, "unsupported_content_type", "send a multipart/form-data body with the file in field \"image\", e.g. curl -F 'image=@photo.jpg;type=image/jpeg'");
      }
      const images = multipartImages(request.body as Record<string, unknown>);
      const [result] = await describeImages({ captions, restyler, limits: config.limits }, model, images, {}, featureRequest(request.query));
      const { captions: list, ...extras } = result!;
      return { ...(list ? { caption: list[0]!.text } : {}), model, ...extras };
    },
  );
}
