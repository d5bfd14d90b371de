// The Fastify app: shared infrastructure first (services, errors, auth, metrics, OpenAPI), then one
// encapsulated plugin per group of routes. `buildApp` never listens: `serve` does, tests inject.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { authPlugin } from "./plugins/auth.js";
import { errorsPlugin } from "./plugins/errors.js";
import { metricsPlugin } from "./plugins/metrics.js";
import { openapiPlugin } from "./plugins/openapi.js";
import { servicesPlugin } from "./plugins/services.js";
import { adminRoutes } from "./routes/admin.js";
import { captionRoutes } from "./routes/caption.js";
import { chatRoutes } from "./routes/chat.js";
import { healthRoutes } from "./routes/health.js";
import { jobRoutes } from "./routes/jobs.js";
import { modelRoutes } from "./routes/models.js";
import { pocRoutes } from "./routes/poc.js";
import type { Services } from "./services.js";

export interface AppOptions {
  services: Services;
  /** Close the services when the app closes (default true: the app owns them). */
  closeServices?: boolean;
  logger?: FastifyServerOptions["logger"];
}

/** Builds the app over `services` (see openServices); call `app.close()` when done. */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    // Never hang a client forever on a slow upload or a stuck request.
    requestTimeout: opts.services.config.limits.requestTimeoutMs + 10_000,
    ajv: {
      // Unknown fields are errors that name the field (a typo like `num_beam` must not pass silently).
      customOptions: { removeAdditional: false },
      plugins: [binaryFileKeyword],
    },
  });
  await app.register(servicesPlugin, { services: opts.services, closeWithApp: opts.closeServices ?? true });
  await app.register(errorsPlugin);
  await app.register(authPlugin);
  await app.register(openapiPlugin);
  await app.register(metricsPlugin);
  await app.register(healthRoutes);
  await app.register(modelRoutes);
  await app.register(pocRoutes);
  await app.register(captionRoutes);
  await app.register(chatRoutes);
  await app.register(jobRoutes);
  await app.register(adminRoutes);
  return app;
}

/**
 * `binaryFile: "one" | "many"` marks a multipart file field. Multipart bodies arrive as Buffers,
 * which JSON schema cannot type, so the keyword accepts anything: the route's preValidation hook
 * checks the field's presence and kind with a message that says what to fix. The OpenAPI plugin
 * rewrites the keyword into `{type: string, format: binary}` (see `openapiFileFields`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function binaryFileKeyword(ajv: any): any {
  return ajv.addKeyword({ keyword: "binaryFile", schemaType: "string", valid: true });
}
