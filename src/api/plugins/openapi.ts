// The OpenAPI document (built by @fastify/swagger from the routes' JSON schemas) at
// GET /openapi.json, and a Swagger UI docs page at GET /docs. Registered before the routes, so it
// sees every one of them.
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

export const openapiPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      transform: ({ schema, url }) => ({ schema: openapiFileFields(schema) as typeof schema, url }),
      openapi: {
        openapi: "3.0.3",
        info: {
          title: "captioner",
          version: "1",
          description:
            "Image captioning with BLIP. Errors are always `{error: {code, message}}`. With API keys configured, send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        },
        tags: [
          { name: "captions", description: "caption images" },
          { name: "models", description: "configured models" },
          { name: "jobs", description: "long-running work on the job queue" },
          { name: "admin", description: "admin key only" },
          { name: "datasets", description: "stored datasets: contributor or admin key (creating datasets and deleting items: admin)" },
          { name: "health", description: "liveness, readiness, metrics" },
        ],
        components: {
          securitySchemes: {
            bearerAuth: { type: "http", scheme: "bearer" },
            apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key" },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
    app.get(
      "/openapi.json",
      {
        onRequest: app.authorize("public"),
        schema: { tags: ["health"], summary: "this API's OpenAPI 3 document", response: { 200: { type: "object", additionalProperties: true } } },
      },
      async () => app.swagger(),
    );
  },
  { name: "openapi", dependencies: ["services", "auth"] },
);

/** A route schema with every `{binaryFile: "one"|"many"}` field in OpenAPI's file form (type string, format binary). */
export function openapiFileFields(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(openapiFileFields);
  if (typeof schema !== "object" || schema === null) return schema;
  const { binaryFile, ...rest } = schema as Record<string, unknown>;
  const out = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, openapiFileFields(v)]));
  if (binaryFile === "one") return { ...out, type: "string", format: "binary" };
  if (binaryFile === "many") return { ...out, type: "array", items: { type: "string", format: "binary" } };
  return out;
}
