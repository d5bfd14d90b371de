// Stored datasets (issue 11, first step): admins create datasets; contributors add items (an image
// with 0..n captions and a split), page through them, fetch their images, edit and review captions;
// admins delete items. The store (datasets/store.ts) does the work; these handlers only translate.
import multipart from "@fastify/multipart";
import type { FastifyError, FastifyInstance } from "fastify";
import { DATASET_NAME_PATTERN, type DatasetInfo, type ItemChanges, MAX_CAPTION_LENGTH, MAX_CAPTIONS, REVIEW_ACTIONS, type ReviewDecision, SPLITS, type Split, type StoredItem } from "../../datasets/store.js";
import { decodeImage, ImageDecodeError } from "../../preprocess/image.js";
import { imageInputError } from "../../serving/caption_service.js";
import { security } from "../plugins/auth.js";
import { ApiError, mapError } from "../plugins/errors.js";
import { errors, fileField } from "../schemas.js";
import { requireImageField } from "./input.js";

const nameSchema = { type: "string", pattern: DATASET_NAME_PATTERN, description: "1–64 letters, digits, `.`, `_`, `-`" } as const;
const splitSchema = { type: "string", enum: [...SPLITS] } as const;
const captionsSchema = { type: "array", maxItems: MAX_CAPTIONS, items: { type: "string", minLength: 1, maxLength: MAX_CAPTION_LENGTH } } as const;
const datasetParams = { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1, maxLength: 64 } } } as const;
const itemParams = { type: "object", required: ["name", "id"], properties: { name: { type: "string", minLength: 1, maxLength: 64 }, id: { type: "string", minLength: 1, maxLength: 64 } } } as const;

const datasetSchema = {
  type: "object",
  required: ["name", "createdAt", "items"],
  properties: { name: { type: "string" }, createdAt: { type: "string", format: "date-time" }, items: { type: "integer", description: "number of items" } },
} as const;

const itemSchema = {
  type: "object",
  required: ["id", "split", "captions", "reviewed", "imageSha256", "contentType", "bytes", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string" },
    split: splitSchema,
    captions: { type: "array", items: { type: "string" } },
    reviewed: { type: "boolean", description: "a reviewer accepted the captions" },
    imageSha256: { type: "string", description: "hex SHA-256 of the stored image bytes" },
    contentType: { type: "string", description: "image/png, image/jpeg, image/gif or image/webp" },
    bytes: { type: "integer" },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;

const datasetView = (d: DatasetInfo) => ({ name: d.name, createdAt: d.createdAt, items: d.items });
const itemView = (i: StoredItem) => ({
  id: i.id, split: i.split, captions: i.captions, reviewed: i.reviewed, imageSha256: i.imageSha256,
  contentType: i.mediaType, bytes: i.bytes, createdAt: i.createdAt, updatedAt: i.updatedAt,
});

interface ItemForm {
  image: Buffer;
  caption?: string[];
  split: Split;
  reviewed?: boolean;
}

export async function datasetRoutes(app: FastifyInstance): Promise<void> {
  const { config, datasets } = app.services;
  const limits = config.limits;
  await app.register(multipart, {
    attachFieldsToBody: "keyValues",
    limits: { fileSize: limits.maxUploadBytes, files: 1, fields: MAX_CAPTIONS + 8, fieldSize: MAX_CAPTION_LENGTH * 4, parts: MAX_CAPTIONS + 9 },
  });
  // The app's error mapping, except that a second file means one item per request here (not the
  // caption routes' image count limit).
  app.setErrorHandler(async (error: unknown, request, reply) => {
    const { status, code, message, headers } =
      (error as FastifyError).code === "FST_FILES_LIMIT"
        ? { status: 400, code: "one_image_per_item", message: 'an item has one image: send one file in field "image" per request', headers: {} }
        : mapError(error, request);
    if (status >= 500 && code === "internal_error") request.log.error({ err: error }, "request failed");
    return reply.code(status).headers(headers ?? {}).send({ error: { code, message } });
  });

  app.post<{ Body: { name: string } }>(
    "/v1/datasets",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["datasets"],
        summary: "Create an empty dataset",
        security: security("admin"),
        body: { type: "object", required: ["name"], additionalProperties: false, properties: { name: nameSchema } },
        response: { 201: datasetSchema, ...errors(400, 401, 403, 409, 415) },
      },
    },
    async (request, reply) => reply.code(201).header("location", `/v1/datasets/${request.body.name}/items`).send(datasetView(datasets.createDataset(request.body.name))),
  );

  app.get(
    "/v1/datasets",
    {
      onRequest: app.authorize("contributor"),
      schema: {
        tags: ["datasets"],
        summary: "List the datasets with their item counts",
        security: security("contributor"),
        response: { 200: { type: "object", required: ["datasets"], properties: { datasets: { type: "array", items: datasetSchema } } }, ...errors(401, 403) },
      },
    },
    async () => ({ datasets: datasets.listDatasets().map(datasetView) }),
  );

  app.post<{ Params: { name: string }; Body: ItemForm }>(
    "/v1/datasets/:name/items",
    {
      onRequest: app.authorize("contributor"),
      preValidation: requireImageField(true),
      schema: {
        tags: ["datasets"],
        summary: "Add an item: an image with 0..n captions, in a split",
        description:
          `multipart/form-data: the image file in field \`image\` (PNG, JPEG, GIF or WebP, ≤ ${limits.maxUploadBytes} bytes and ≤ ${limits.maxPixels} pixels), ` +
          "one `caption` field per caption (none: to be drafted later), `split`. The uploaded file name is ignored: images are stored by content. " +
          "When the answer arrives the item is on disk for good.",
        security: security("contributor"),
        params: datasetParams,
        body: {
          content: {
            "multipart/form-data": {
              schema: {
                type: "object",
                required: ["image"],
                additionalProperties: false,
                properties: {
                  image: fileField(false, "the image file"),
                  caption: { ...captionsSchema, description: "a caption; repeat the field for several" },
                  split: { ...splitSchema, default: "train" },
                  reviewed: { type: "boolean", default: false, description: "the captions are already reviewed" },
                },
              },
            },
          },
        },
        response: { 201: itemSchema, ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw new ApiError(415, "unsupported_content_type", "send multipart/form-data: curl -F 'image=@photo.jpg' -F 'caption=a dog on a couch' -F split=train");
      const { name } = request.params;
      datasets.requireDataset(name); // 404 before decoding anything
      const form = request.body;
      await checkImage(form.image, limits.maxPixels);
      const item = await datasets.addItem(name, { image: form.image, captions: form.caption ?? [], split: form.split, reviewed: form.reviewed });
      return reply.code(201).header("location", `/v1/datasets/${name}/items/${item.id}`).send(itemView(item));
    },
  );

  app.get<{ Params: { name: string }; Querystring: { split?: Split; reviewed?: boolean; captioned?: boolean; limit: number; cursor?: string } }>(
    "/v1/datasets/:name/items",
    {
      onRequest: app.authorize("contributor"),
      schema: {
        tags: ["datasets"],
        summary: "List a dataset's items, oldest first, a page at a time",
        description:
          "Pass the answer's `next` as `cursor` for the following page; `next` is null on the last one. " +
          "`reviewed=false&captioned=true` lists the captions waiting for a reviewer (drafts among them); `captioned=false` the items without any.",
        security: security("contributor"),
        params: datasetParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            split: splitSchema,
            reviewed: { type: "boolean" },
            captioned: { type: "boolean", description: "true: items with at least one caption; false: items without captions" },
            limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
            cursor: { type: "string", maxLength: 64 },
          },
        },
        response: {
          200: { type: "object", required: ["items", "next"], properties: { items: { type: "array", items: itemSchema }, next: { type: ["string", "null"] } } },
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const page = datasets.listItems(request.params.name, request.query);
      return { items: page.items.map(itemView), next: page.next };
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    "/v1/datasets/:name/items/:id/image",
    {
      onRequest: app.authorize("contributor"),
      schema: {
        tags: ["datasets"],
        summary: "The item's image: the stored bytes, with their content type",
        security: security("contributor"),
        params: itemParams,
        response: {
          200: { description: "the image bytes", content: { "image/*": { schema: { type: "string", format: "binary" } } } },
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const item = datasets.getItem(request.params.name, request.params.id);
      const bytes = await datasets.readImage(item);
      return reply.type(item.mediaType).header("etag", `"${item.imageSha256}"`).header("x-content-type-options", "nosniff").send(bytes);
    },
  );

  app.patch<{ Params: { name: string; id: string }; Body: ItemChanges }>(
    "/v1/datasets/:name/items/:id",
    {
      onRequest: app.authorize("contributor"),
      schema: {
        tags: ["datasets"],
        summary: "Edit an item: replace its captions, mark it reviewed or not, move it to another split",
        security: security("contributor"),
        params: itemParams,
        body: {
          type: "object",
          additionalProperties: false,
          minProperties: 1,
          properties: { captions: captionsSchema, reviewed: { type: "boolean" }, split: splitSchema },
        },
        response: { 200: itemSchema, ...errors(400, 401, 403, 404, 415) },
      },
    },
    async (request) => itemView(datasets.updateItem(request.params.name, request.params.id, request.body)),
  );

  app.post<{ Params: { name: string; id: string }; Body: ReviewDecision }>(
    "/v1/datasets/:name/items/:id/review",
    {
      onRequest: app.authorize("contributor"),
      schema: {
        tags: ["datasets"],
        summary: "Review an item's captions (drafts included): accept, edit or reject them",
        description:
          "`accept`: the captions as they are become reviewed (409 when the item has none). `edit`: replace them with `captions`, reviewed. " +
          "`reject`: drop them; the item has no captions again (a later draft job fills it). PATCH does the same with plain fields.",
        security: security("contributor"),
        params: itemParams,
        body: {
          type: "object",
          required: ["action"],
          additionalProperties: false,
          properties: {
            action: { type: "string", enum: [...REVIEW_ACTIONS] },
            captions: { ...captionsSchema, minItems: 1, description: "with edit only: the captions that replace the item's" },
          },
        },
        response: { 200: itemSchema, ...errors(400, 401, 403, 404, 409, 415) },
      },
    },
    async (request) => itemView(datasets.reviewItem(request.params.name, request.params.id, request.body)),
  );

  app.delete<{ Params: { name: string; id: string } }>(
    "/v1/datasets/:name/items/:id",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["datasets"],
        summary: "Delete an item (its image file too, unless another item has the same bytes)",
        security: security("admin"),
        params: itemParams,
        response: { 204: { type: "null", description: "deleted" }, ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      datasets.deleteItem(request.params.name, request.params.id);
      return reply.code(204).send();
    },
  );
}

/** The caption routes' decode check: not an image 415, damaged 400, too many pixels 413. */
async function checkImage(bytes: Buffer, maxPixels: number): Promise<void> {
  try {
    await decodeImage(bytes, { maxPixels });
  } catch (error) {
    throw error instanceof ImageDecodeError ? imageInputError(error, bytes, 0, 1) : error;
  }
}
