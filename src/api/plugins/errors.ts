// One error shape for every route, `{error: {code, message}}`, from one error handler: library
// errors are mapped to their HTTP status here, so route handlers simply throw.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { StoreError, type StoreErrorKind } from "../../datasets/store.js";
import { GenerationOptionsError } from "../../generation/generate.js";
import { CaptionTimeoutError, InputError } from "../../serving/caption_service.js";
import { DecodeBudgetBusyError, DecodeTooLargeError } from "../../serving/decode_budget.js";
import { JobError, QueueFullError } from "../../serving/queue/types.js";
import { RemoteCaptionError, RemoteInputError } from "../../serving/remote_caption.js";
import { ModelNotReadyError, UnknownModelError } from "../../serving/registry.js";

/** An error a route raises on purpose, with its status and a stable code. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(readonly statusCode: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export interface Mapped {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/** Fastify's own errors (body parsing, multipart limits) → what to tell the client. */
function fastifyError(error: FastifyError, request: FastifyRequest): Mapped | undefined {
  const limits = request.server.services.config.limits;
  switch (error.code) {
    case "FST_REQ_FILE_TOO_LARGE":
      return { status: 413, code: "image_too_large", message: `an uploaded image is larger than ${limits.maxUploadBytes} bytes (maxUploadBytes); send a smaller file` };
    case "FST_FILES_LIMIT":
      return { status: 413, code: "too_many_images", message: `more than ${limits.maxImagesPerRequest} images in one request (maxImagesPerRequest); split them, or use POST /v1/jobs/captions` };
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, code: "body_too_large", message: `the request body is larger than this route accepts (${request.routeOptions.config.bodyRule ?? `images of at most ${limits.maxUploadBytes} bytes each, maxUploadBytes`}); send fewer or smaller images` };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 415, code: "unsupported_content_type", message: `content type ${JSON.stringify(request.headers["content-type"] ?? "")} is not accepted by ${request.method} ${request.url.split("?")[0]}; send application/json, or multipart/form-data (field "image") where the route takes files (see GET /docs)` };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return { status: 400, code: "invalid_json", message: `the JSON body could not be parsed: ${error.message}` };
    case "FST_PARTS_LIMIT":
    case "FST_FIELDS_LIMIT":
      return { status: 413, code: "too_many_fields", message: "the multipart body has too many fields; send the image(s) in field \"image\" and one field per option" };
    case "FST_MP_PREMATURE_CLOSE":
    case "FST_INVALID_MULTIPART_CONTENT_TYPE":
      return { status: 400, code: "invalid_multipart", message: `the multipart body is malformed (${error.message}); send it as curl -F 'image=@photo.jpg' does` };
  }
  if (error.validation) return { status: 400, code: "invalid_request", message: validationMessage(error) };
  // busboy's parse errors are plain Errors ("Unexpected end of multipart data", "Malformed part header", …).
  if (request.isMultipart() && error.statusCode === undefined && /multipart|boundary|part header/i.test(error.message ?? "")) {
    return { status: 400, code: "invalid_multipart", message: `the multipart body is malformed or cut short (${error.message}); send it as curl -F 'image=@photo.jpg' does` };
  }
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, code: "bad_request", message: error.message };
  }
  return undefined;
}

/** Ajv's first error, phrased for the client: the field's path, the rule, the limit. */
function validationMessage(error: FastifyError): string {
  const first = error.validation![0]!;
  const where = `${error.validationContext ?? "body"}${first.instancePath.replace(/\//g, ".").replace(/\.(\d+)(?=\.|$)/g, "[$1]")}`;
  const params = first.params as Record<string, unknown>;
  if (first.keyword === "additionalProperties") return `unknown field "${params.additionalProperty}" in ${where}; see GET /docs for the accepted fields`;
  if (first.keyword === "required") return `${where} is missing the required field "${params.missingProperty}"`;
  return `${where} ${first.message}`;
}

const STORE_STATUS: Record<StoreErrorKind, number> = {
  invalid_name: 400, invalid_cursor: 400, dataset_exists: 409, unknown_dataset: 404, unknown_item: 404, not_an_image: 415, nothing_to_accept: 409, invalid_review: 400,
};

/** Any error → its status, stable code and message (the chat-completions route re-shapes it as OpenAI does). */
export function mapError(error: unknown, request: FastifyRequest): Mapped {
  if (error instanceof ApiError) return { status: error.statusCode, code: error.code, message: error.message, headers: error.headers };
  if (error instanceof StoreError) return { status: STORE_STATUS[error.kind], code: error.kind, message: error.message };
  if (error instanceof InputError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof UnknownModelError) return { status: 404, code: "unknown_model", message: error.message };
  if (error instanceof ModelNotReadyError) return { status: 503, code: "model_not_ready", message: error.message, headers: { "retry-after": "5" } };
  if (error instanceof QueueFullError) {
    return { status: 503, code: "queue_full", message: `${error.message}; the server is busy`, headers: { "retry-after": String(Math.max(1, Math.ceil(error.retryAfterSeconds))) } };
  }
  if (error instanceof DecodeTooLargeError) return { status: 413, code: "decoded_too_large", message: `the image is too large once decoded: ${error.message}; send fewer pixels` };
  if (error instanceof DecodeBudgetBusyError) return { status: 503, code: "decoding_busy", message: error.message, headers: { "retry-after": String(error.retryAfterSeconds) } };
  if (error instanceof GenerationOptionsError) return { status: 400, code: "invalid_option", message: error.message };
  if (error instanceof JobError) return { status: 404, code: "job_not_found", message: error.message };
  if (error instanceof CaptionTimeoutError) return { status: 504, code: "timeout", message: error.message };
  if (error instanceof RemoteInputError) return { status: 400, code: error.code, message: error.message };
  if (error instanceof RemoteCaptionError) return { status: 502, code: "worker_failed", message: error.message };
  const mapped = fastifyError(error as FastifyError, request);
  if (mapped) return mapped;
  return { status: 500, code: "internal_error", message: "the server failed to handle this request; the error is in the server log" };
}

/** The longest path parameter the router matches (Fastify's default); longer ones get 414. */
export const MAX_PARAM_LENGTH = 100;

/**
 * Fastify's `frameworkErrors` option: errors the router raises before any route or hook runs (a bad
 * percent-encoding, a path parameter over MAX_PARAM_LENGTH), answered in the one error shape.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split("?")[0]!;
  const [status, code, message] =
    error.code === "FST_ERR_MAX_PARAM_LENGTH"
      ? [414, "path_parameter_too_long", `a path parameter of ${path.slice(0, 80)}… is longer than ${MAX_PARAM_LENGTH} characters; ids and names are shorter (see GET /docs)`]
      : error.code === "FST_ERR_BAD_URL"
        ? [400, "bad_url_encoding", `the URL ${JSON.stringify(path.slice(0, 200))} has an invalid percent-encoding; encode special characters as %XX (UTF-8)`]
        : [400, "bad_request", error.message];
  void reply.code(status).header("content-type", "application/json; charset=utf-8").send(JSON.stringify({ error: { code, message } }));
}

/** Sets the app's error and not-found handlers (shared by every route plugin). */
export const errorsPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
      const { status, code, message, headers } = mapError(error, request);
      if (status >= 500 && code === "internal_error") request.log.error({ err: error }, "request failed");
      return reply.code(status).headers(headers ?? {}).send({ error: { code, message } });
    });
    app.setNotFoundHandler(async (request, reply) =>
      reply.code(404).send({ error: { code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}; see GET /docs for the API` } }),
    );
  },
  { name: "errors", dependencies: ["services"] },
);
