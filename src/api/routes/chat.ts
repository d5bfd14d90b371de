// POST /v1/chat/completions: the OpenAI-compatible face of captioning, so the official OpenAI
// clients (and tools built on them) caption with captioner unchanged. The image comes as an
// `image_url` content part holding a data URL; the server never fetches remote URLs (no SSRF, no
// surprise downloads). The answer is the caption POST /image2caption/blip gives for that image: the
// user's text is not fed to BLIP as a prompt, because prompting made captions worse in the proof of
// concept. With the extension field `style`, the answer is the restyled description instead.
// Errors use OpenAI's shape, `{error: {message, type, param, code}}`, since those clients parse it.
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { CaptionOptions } from "../../generation/options.js";
import { describeImages } from "../../serving/describe.js";
import { security } from "../plugins/auth.js";
import { ApiError, mapError } from "../plugins/errors.js";
import { jsonBody, refuseWhenQueueFull, requestImages } from "./input.js";

/** An error with the request field it is about (OpenAI's `param`). */
class ChatError extends ApiError {
  constructor(statusCode: number, code: string, message: string, readonly param: string | null) {
    super(statusCode, code, message);
  }
}

interface ChatBody {
  model: string;
  messages: { role: string; content?: unknown }[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  n?: number | null;
  stream?: boolean | null;
  style?: string;
}

const openAiErrorSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["message", "type", "param", "code"],
      properties: { message: { type: "string" }, type: { type: "string" }, param: { type: ["string", "null"] }, code: { type: ["string", "null"] } },
    },
  },
} as const;

const completionSchema = {
  type: "object",
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    id: { type: "string" },
    object: { type: "string", enum: ["chat.completion"] },
    created: { type: "integer" },
    model: { type: "string" },
    choices: {
      type: "array",
      items: {
        type: "object",
        required: ["index", "message", "finish_reason"],
        properties: {
          index: { type: "integer" },
          message: { type: "object", required: ["role", "content"], properties: { role: { type: "string" }, content: { type: "string" }, refusal: { type: "null" } } },
          finish_reason: { type: "string" },
          logprobs: { type: "null" },
        },
      },
    },
  },
} as const;

/** OpenAI's error `type` for an HTTP status. */
function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  return status >= 500 ? "server_error" : "invalid_request_error";
}

/** Which request field an error of the shared mapper is about, and OpenAI's code for it. */
function openAiFields(error: unknown, code: string): { param: string | null; code: string } {
  if (error instanceof ChatError) return { param: error.param, code };
  if (code === "unknown_model") return { param: "model", code: "model_not_found" };
  const validation = (error as { validation?: { instancePath: string; params: Record<string, unknown> }[] }).validation?.[0];
  if (validation) {
    const path = validation.instancePath.replace(/^\//, "").replace(/\/(\d+)/g, "[$1]").replace(/\//g, ".");
    return { param: path || String(validation.params.missingProperty ?? "") || null, code };
  }
  return { param: null, code };
}

/** The image of a chat request: the data URL of the last user message that carries an image_url part. */
function requestImage(messages: ChatBody["messages"]): Uint8Array {
  for (let m = messages.length - 1; m >= 0; m--) {
    const { role, content } = messages[m]!;
    if (role !== "user" || !Array.isArray(content)) continue;
    const images = content
      .map((part: unknown, p) => ({ part: part as { type?: unknown; image_url?: { url?: unknown } }, param: `messages[${m}].content[${p}]` }))
      .filter(({ part }) => part?.type === "image_url");
    if (images.length === 0) continue;
    if (images.length > 1) throw new ChatError(400, "too_many_images", `messages[${m}] has ${images.length} image_url parts; send one image per request`, images[1]!.param);
    const { part, param } = images[0]!;
    const url = part.image_url?.url;
    if (typeof url !== "string") throw new ChatError(400, "invalid_image_url", `${param}.image_url.url must be a string: a data URL such as data:image/jpeg;base64,...`, `${param}.image_url.url`);
    return dataUrlBytes(url, `${param}.image_url.url`);
  }
  throw new ChatError(400, "missing_image", 'no image in the messages; add a user message content part {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}}', "messages");
}

function dataUrlBytes(url: string, param: string): Uint8Array {
  if (/^https?:\/\//i.test(url)) {
    throw new ChatError(400, "remote_image_url_not_supported", `remote image URLs are not fetched by this server; send the image itself as a data URL (data:image/jpeg;base64,<base64 of the file>)`, param);
  }
  const match = /^data:([^,;]*)((?:;[^,;]*)*),(.*)$/s.exec(url);
  if (!match) throw new ChatError(400, "invalid_image_url", "the image_url is not a data URL; send data:image/jpeg;base64,<base64 of the file>", param);
  if (!/;base64$/i.test(match[2]!)) throw new ChatError(400, "invalid_image_url", "the data URL must be base64-encoded (data:image/jpeg;base64,...)", param);
  const payload = match[3]!.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(payload)) throw new ChatError(400, "invalid_image_url", "the data URL's payload is not base64", param);
  return new Uint8Array(Buffer.from(payload, /[-_]/.test(payload) ? "base64url" : "base64"));
}

export async function chatRoutes(app: FastifyInstance): Promise<void> {
  const { config, captions, registry, restyler } = app.services;
  const limits = config.limits;

  // Scoped to this plugin: the rest of the API keeps its own error shape.
  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = mapError(error, request);
    if (mapped.status >= 500 && mapped.code === "internal_error") request.log.error({ err: error }, "request failed");
    const { param, code } = openAiFields(error, mapped.code);
    return reply.code(mapped.status).headers(mapped.headers ?? {}).send({ error: { message: mapped.message, type: errorType(mapped.status), param, code } });
  });

  app.post<{ Body: ChatBody }>(
    "/v1/chat/completions",
    {
      onRequest: [app.authorize("user"), refuseWhenQueueFull(captions)],
      ...jsonBody(requestImages(limits, 1)),
      schema: {
        tags: ["captions"],
        summary: "OpenAI-compatible chat completions: caption the image of the last user message",
        description:
          "Send one `image_url` content part with a data URL (remote URLs are refused: the server fetches nothing). The assistant message is the caption " +
          "POST /image2caption/blip gives; the user's text is not used as a prompt. `max_tokens` (or `max_completion_tokens`) → max_new_tokens, " +
          "`n` → returned sequences (beam search with n beams). Extension: `style` answers with the restyled description in that configured style. " +
          "`stream: true` is answered as one chunk then [DONE]. Other OpenAI parameters (temperature, top_p, …) are accepted and ignored: captioning is deterministic. " +
          "Errors have OpenAI's shape {error: {message, type, param, code}}.",
        security: security("user"),
        body: {
          type: "object",
          required: ["model", "messages"],
          // OpenAI clients send parameters this server has no use for; refusing them would break those clients.
          additionalProperties: true,
          properties: {
            model: { type: "string", description: `a configured model: ${registry.names().join(", ")}` },
            messages: {
              type: "array",
              minItems: 1,
              items: { type: "object", required: ["role"], properties: { role: { type: "string" }, content: { description: "a string, or content parts (text, image_url)" } } },
            },
            max_tokens: { type: ["integer", "null"], minimum: 1, maximum: limits.maxNewTokens, description: `→ max_new_tokens; at most ${limits.maxNewTokens} (the server's maxNewTokens)` },
            max_completion_tokens: { type: ["integer", "null"], minimum: 1, maximum: limits.maxNewTokens, description: "the newer name of max_tokens; wins over it" },
            n: { type: ["integer", "null"], minimum: 1, maximum: limits.maxBeams, description: `captions to return, from beam search with n beams; at most ${limits.maxBeams} (maxBeams)` },
            stream: { type: ["boolean", "null"], description: "answer as server-sent events (one chunk, then [DONE])" },
            style: { type: "string", description: `extension: answer with the description in this configured style (${restyler.styles.join(", ")})` },
          },
        },
        response: {
          200: {
            description: "a chat.completion, or with stream: true a text/event-stream of chat.completion.chunk events",
            content: { "application/json": { schema: completionSchema }, "text/event-stream": { schema: { type: "string" } } },
          },
          ...Object.fromEntries([400, 401, 403, 404, 413, 415, 502, 503, 504].map((s) => [s, openAiErrorSchema])),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (!registry.has(body.model)) {
        throw new ChatError(404, "model_not_found", `The model \`${body.model}\` does not exist on this server; configured models: ${registry.names().join(", ")} (GET /v1/models)`, "model");
      }
      const image = requestImage(body.messages);
      const n = body.n ?? 1;
      if (body.style !== undefined && n > 1) throw new ChatError(400, "invalid_n", "n > 1 is not supported with style (one description per image); leave n out", "n");
      const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
      const options: CaptionOptions = {
        ...(maxTokens !== undefined ? { maxNewTokens: maxTokens } : {}),
        ...(n > 1 ? { numBeams: n, numReturnSequences: n } : {}),
      };
      const features = body.style !== undefined ? "caption,description" : "caption";
      const [result] = await describeImages({ captions, restyler, limits }, body.model, [image], options, { features, style: body.style });
      const texts = body.style !== undefined ? [result!.description!.text] : result!.captions!.map((c) => c.text);

      const id = `chatcmpl-${randomUUID().replaceAll("-", "")}`;
      const created = Math.floor(Date.now() / 1000);
      if (body.stream) {
        const events = texts.map((content, index) => ({ id, object: "chat.completion.chunk", created, model: body.model, choices: [{ index, delta: { role: "assistant", content }, finish_reason: "stop", logprobs: null }] }));
        const text = `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("")}data: [DONE]\n\n`;
        return reply.header("content-type", "text/event-stream; charset=utf-8").header("cache-control", "no-cache").send(text);
      }
      return {
        id,
        object: "chat.completion",
        created,
        model: body.model,
        choices: texts.map((content, index) => ({ index, message: { role: "assistant", content, refusal: null }, finish_reason: "stop", logprobs: null })),
      };
    },
  );
}
