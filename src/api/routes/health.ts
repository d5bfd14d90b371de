// GET /healthz (the process answers) and GET /readyz (every configured model is ready).
import type { FastifyInstance } from "fastify";

const readiness = {
  type: "object",
  required: ["status", "models"],
  properties: {
    status: { type: "string", enum: ["ready", "not_ready"] },
    models: { type: "array", items: { type: "object", properties: { name: { type: "string" }, state: { type: "string" }, error: { type: ["string", "null"] } } } },
  },
} as const;

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  const { registry } = app.services;
  app.get(
    "/healthz",
    {
      onRequest: app.authorize("public"),
      schema: { tags: ["health"], summary: "Liveness: the server process answers", response: { 200: { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] } } } } },
    },
    async () => ({ status: "ok" as const }),
  );
  app.get(
    "/readyz",
    {
      onRequest: app.authorize("public"),
      schema: { tags: ["health"], summary: "Readiness: 200 when every configured model is loaded, else 503", response: { 200: readiness, 503: readiness } },
    },
    async (_request, reply) => {
      const models = registry.statuses().map(({ name, state, error }) => ({ name, state, error }));
      const ready = registry.allReady();
      return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not_ready", models });
    },
  );
}
