// GET /v1/models: the configured models and their state.
import type { FastifyInstance } from "fastify";
import { security } from "../plugins/auth.js";
import { statusWithoutPaths } from "../../serving/registry.js";
import { errors, modelStatusSchema } from "../schemas.js";

export async function modelRoutes(app: FastifyInstance): Promise<void> {
  const { registry, defaultModel } = app.services;
  app.get(
    "/v1/models",
    {
      onRequest: app.authorize("user"),
      schema: {
        tags: ["models"],
        summary: "List the configured models and their state",
        security: security("user"),
        response: {
          200: {
            type: "object",
            required: ["models", "default"],
            properties: { default: { type: "string", description: "the model used when a request names none (and by /image2caption/blip)" }, models: { type: "array", items: modelStatusSchema } },
          },
          ...errors(401, 403),
        },
      },
    },
    // Local checkpoint paths tell about the server's file system: admins only.
    async (request) => ({ default: defaultModel, models: request.apiKey?.role === "admin" ? registry.statuses() : registry.statuses().map(statusWithoutPaths) }),
  );
}
