// The Fastify app: shared infrastructure first (services, errors, auth, metrics, OpenAPI), then one
// encapsulated plugin per group of routes, the web page last. `buildApp` never listens: `serve` does,
// tests inject.
import * as http from "node:http";
import type { Duplex } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { parseJsonOffThread } from "./json/off_thread.js";
import { authPlugin } from "./plugins/auth.js";
import { declaredLengthPlugin } from "./plugins/declared_length.js";
import { errorsPlugin, frameworkErrors, MAX_PARAM_LENGTH } from "./plugins/errors.js";
import { securityPlugin } from "./plugins/security.js";
import { shutdownPlugin } from "./plugins/shutdown.js";
import { metricsPlugin } from "./plugins/metrics.js";
import { openapiPlugin } from "./plugins/openapi.js";
import { servicesPlugin } from "./plugins/services.js";
import { adminRoutes } from "./routes/admin.js";
import { captionRoutes } from "./routes/caption.js";
import { chatRoutes } from "./routes/chat.js";
import { datasetRoutes } from "./routes/datasets.js";
import { datasetJobRoutes } from "./routes/dataset_jobs.js";
import { datasetTransferRoutes } from "./routes/dataset_transfer.js";
import { healthRoutes } from "./routes/health.js";
import { jobRoutes } from "./routes/jobs.js";
import { jobEventRoutes } from "./routes/job_events.js";
import { modelRoutes } from "./routes/models.js";
import { pocRoutes } from "./routes/poc.js";
import { trainingRoutes } from "./routes/training.js";
import { webRoutes } from "./routes/web.js";
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
    // Node's requestTimeout bounds receiving the request (not answering it): a slow upload cannot
    // hold a connection longer than this (measured before: ≈ 157 s).
    requestTimeout: opts.services.config.limits.bodyTimeoutMs,
    // Node enforces it only when given at construction, with headersTimeout no longer than it, and
    // checks every connectionsCheckingInterval (default 30 s).
    http: {
      requestTimeout: opts.services.config.limits.bodyTimeoutMs,
      headersTimeout: opts.services.config.limits.bodyTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, opts.services.config.limits.bodyTimeoutMs),
    },
    clientErrorHandler,
    frameworkErrors,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // shutdownPlugin answers while closing, in the one error shape and with Retry-After.
    return503OnClosing: false,
    ajv: {
      // Unknown fields are errors that name the field (a typo like `num_beam` must not pass silently).
      customOptions: { removeAdditional: false },
      plugins: [binaryFileKeyword],
    },
  });
  // Every route takes JSON or multipart (or no body): a text/plain body is refused with 415, not parsed into a string.
  app.removeContentTypeParser("text/plain");
  parseJsonOffThread(app);
  await app.register(servicesPlugin, { services: opts.services, closeWithApp: opts.closeServices ?? true });
  await app.register(errorsPlugin);
  await app.register(shutdownPlugin);
  await app.register(securityPlugin);
  await app.register(declaredLengthPlugin);
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
  await app.register(datasetRoutes);
  await app.register(datasetJobRoutes);
  await app.register(datasetTransferRoutes);
  await app.register(trainingRoutes);
  await app.register(jobEventRoutes);
  await app.register(webRoutes);
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

/**
 * Errors Node raises before a request reaches Fastify (a request not received in time, a malformed
 * request line) answered in the one error shape, then the connection closes.
 */
function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] = clientErrorAnswer(error);
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Status, reason phrase, code and message for an error Node's HTTP parser raised. */
function clientErrorAnswer(error: NodeJS.ErrnoException): [number, string, string, string] {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return [408, "Request Timeout", "request_timeout", "the request was not received in time (bodyTimeoutMs); send the whole request at once"];
  if (error.code === "HPE_HEADER_OVERFLOW") {
    // Node's limit (--max-http-header-size, 16 KiB) covers the request line and the headers together:
    // when the request line is most of what was read, the URL is what is too long.
    const raw = (error as { rawPacket?: unknown }).rawPacket;
    const lineEnd = Buffer.isBuffer(raw) ? raw.indexOf("\r\n") : -1;
    const urlTooLong = Buffer.isBuffer(raw) && (lineEnd < 0 || lineEnd > raw.length / 2);
    return urlTooLong
      ? [414, "URI Too Long", "url_too_long", `the URL is longer than the server accepts (${http.maxHeaderSize} bytes with the headers); send data in the body, not the URL`]
      : [431, "Request Header Fields Too Large", "headers_too_large", `the request headers are larger than the server accepts (${http.maxHeaderSize} bytes); send fewer or shorter headers`];
  }
  return [400, "Bad Request", "bad_request", "the HTTP request is malformed"];
}
