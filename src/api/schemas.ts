// JSON schemas shared by the routes: each one is the validator, the serializer and the OpenAPI
// document at once. Limits from the configuration are written into the schemas, so the docs show
// them and a violation is refused with the option's name and limit.
import type { ServerLimits } from "../serving/config.js";

/** The one error shape every route answers with. */
export const errorSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string", description: "what went wrong and what to change" } },
    },
  },
} as const;

/** `{400: error, 401: error, …}` for the listed statuses. */
export function errors(...statuses: number[]): Record<number, typeof errorSchema> {
  return Object.fromEntries(statuses.map((s) => [s, errorSchema]));
}

/** Generation options with the API's (transformers') snake_case names; bounds from the server limits. */
export function captionOptionProperties(limits: ServerLimits) {
  return {
    prompt: { type: "string", maxLength: 500, description: "text the caption must start with (conditional captioning)" },
    num_beams: { type: "integer", minimum: 1, maximum: limits.maxBeams, description: `beam search width; 1 = greedy (server limit maxBeams = ${limits.maxBeams})` },
    num_return_sequences: { type: "integer", minimum: 1, maximum: limits.maxBeams, description: "captions per image (≤ num_beams)" },
    max_new_tokens: { type: "integer", minimum: 1, maximum: limits.maxNewTokens, description: `most generated tokens (server limit maxNewTokens = ${limits.maxNewTokens})` },
    min_new_tokens: { type: "integer", minimum: 0, maximum: limits.maxNewTokens, description: "fewest generated tokens before the caption may end" },
    max_length: { type: "integer", minimum: 1, maximum: limits.maxNewTokens + 64, description: "most tokens in total, [DEC] and prompt included (model default 20)" },
    min_length: { type: "integer", minimum: 0, maximum: limits.maxNewTokens + 64, description: "fewest tokens in total" },
    length_penalty: { type: "number", minimum: -10, maximum: 10, description: "beam score = log-prob / length^x" },
    early_stopping: { type: "boolean", description: "beam search stops once num_beams captions are finished" },
    repetition_penalty: { type: "number", exclusiveMinimum: 0, maximum: 10, description: "> 1 discourages repeated tokens" },
    no_repeat_ngram_size: { type: "integer", minimum: 0, maximum: limits.maxNewTokens, description: "forbid repeating n-grams of this size (0 = off)" },
  } as const;
}

export type ApiCaptionOptions = {
  prompt?: string;
  num_beams?: number;
  num_return_sequences?: number;
  max_new_tokens?: number;
  min_new_tokens?: number;
  max_length?: number;
  min_length?: number;
  length_penalty?: number;
  early_stopping?: boolean;
  repetition_penalty?: number;
  no_repeat_ngram_size?: number;
};

export const OPTION_NAMES = ["prompt", "num_beams", "num_return_sequences", "max_new_tokens", "min_new_tokens", "max_length", "min_length", "length_penalty", "early_stopping", "repetition_penalty", "no_repeat_ngram_size"] as const;

/** A multipart file field: the `binaryFile` keyword (see app.ts), shown as a file upload in the OpenAPI document. */
export const fileField = (many: boolean, description: string) => ({ binaryFile: many ? "many" : "one", description });

export const captionSchema = {
  type: "object",
  required: ["text"],
  properties: { text: { type: "string" }, score: { type: "number", description: "beam search's normalised score (beam search only)" } },
} as const;

export const captionResultsSchema = {
  type: "object",
  required: ["model", "results"],
  properties: {
    model: { type: "string" },
    results: {
      type: "array",
      description: "one entry per image, in request order",
      items: { type: "object", required: ["captions"], properties: { captions: { type: "array", items: captionSchema } } },
    },
  },
} as const;

export const modelStatusSchema = {
  type: "object",
  required: ["name", "source", "state"],
  properties: {
    name: { type: "string" },
    source: { type: "string", description: "Hugging Face repo id or local folder" },
    revision: { type: ["string", "null"] },
    state: { type: "string", enum: ["loading", "ready", "failed", "remote"], description: "remote: served by `captioner worker` processes (serve --redis)" },
    error: { type: ["string", "null"] },
    loadSeconds: { type: ["number", "null"] },
    loadedAt: { type: ["string", "null"] },
    reloading: { type: "boolean" },
  },
} as const;

export const jobSchema = {
  type: "object",
  required: ["id", "kind", "state", "progress", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string" },
    kind: { type: "string", description: "caption | model.reload" },
    state: { type: "string", enum: ["queued", "running", "done", "failed", "cancelled"] },
    progress: { type: "number", minimum: 0, maximum: 1 },
    result: {
      anyOf: [
        { type: "object", properties: { captions: { type: "array", items: { type: "array", items: captionSchema } } }, additionalProperties: true },
        { type: "null" },
      ],
    },
    error: { type: ["string", "null"] },
    attempts: { type: "integer" },
    createdAt: { type: "string" },
    updatedAt: { type: "string" },
  },
} as const;

/** A JSON body's base64 images; an optional `data:image/...;base64,` prefix is accepted. */
export function base64ImagesSchema(maxItems: number) {
  return { type: "array", minItems: 1, maxItems, items: { type: "string" }, description: "image files, base64-encoded" } as const;
}
