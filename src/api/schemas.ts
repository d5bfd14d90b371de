// JSON schemas shared by the routes: each one is the validator, the serializer and the OpenAPI
// document at once. Limits from the configuration are written into the schemas, so the docs show
// them and a violation is refused with the option's name and limit.
import { type CaptionKwargs, describeOption, OPTION_NAMES, type OptionName, optionField, serverCap } from "../generation/options.js";
import type { ServerLimits } from "../serving/config.js";
import { COLOR_FAMILIES, FEATURE_NAMES, FEATURES } from "../enrich/index.js";

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
export function captionOptionProperties(limits: ServerLimits): Record<string, object> {
  return Object.fromEntries(OPTION_NAMES.map((name) => [optionField(name).key, optionSchema(name, limits)]));
}

/** One option's schema: its kind, valid range narrowed by the server's caps, and its description. */
function optionSchema(name: OptionName, limits: ServerLimits): object {
  const f = optionField(name);
  const cap = serverCap(name, limits);
  const description = describeOption(name, (key) => key) + (cap?.limit ? `; at most ${cap.max} (${cap.reason})` : "");
  if (f.kind === "boolean") return { type: "boolean", description };
  if (f.kind === "string") return { type: "string", ...(cap && { maxLength: cap.max }), description };
  const floor = Math.max(f.min ?? -Infinity, f.serverMin ?? -Infinity);
  return {
    type: f.kind === "int" ? "integer" : "number",
    ...(floor > -Infinity && { minimum: floor }),
    ...(f.above !== undefined && { exclusiveMinimum: f.above }),
    ...(cap && { maximum: cap.max }),
    description,
  };
}

export type ApiCaptionOptions = CaptionKwargs;

/** The option fields of a request (a multipart form's other fields are the images and the model). */
export const OPTION_KEYS = OPTION_NAMES.map((name) => optionField(name).key);

/** A multipart file field: the `binaryFile` keyword (see app.ts), shown as a file upload in the OpenAPI document. */
export const fileField = (many: boolean, description: string) => ({ binaryFile: many ? "many" : "one", description });

// ---- features (issue 12): tags, colours, descriptions ------------------------------------------------

/** The request fields that ask for features; the same names in a multipart form, a JSON body or a query string. */
export function featureProperties(styles: readonly string[], defaultStyle: string): Record<string, object> {
  return {
    features: {
      type: "string",
      description: `comma-separated, any of ${FEATURE_NAMES.join(", ")} (default: caption). ${FEATURE_NAMES.map((f) => `${f}: ${FEATURES[f]}`).join("; ")}`,
      examples: ["caption,tags,colors"],
    },
    style: { type: "string", description: `the description's style, one of the configured styles: ${styles.join(", ")} (default ${defaultStyle}); needs features to include description` },
    exif_transpose: { type: "boolean", description: "turn the image upright per its EXIF orientation first (default false: the pixels as stored, as transformers sees them)" },
  };
}

const rgbSchema = { type: "array", items: { type: "integer", minimum: 0, maximum: 255 }, minItems: 3, maxItems: 3 } as const;

export const colorSwatchSchema = {
  type: "object",
  required: ["hex", "rgb", "share", "name", "family"],
  properties: {
    hex: { type: "string", description: "#rrggbb" },
    rgb: rgbSchema,
    share: { type: "number", minimum: 0, maximum: 1, description: "fraction of the visible (non-transparent) area" },
    name: { type: "string", description: "nearest of the 139 CSS named colours (CIEDE2000); the list is src/enrich/color_names.ts" },
    family: { type: "string", enum: [...COLOR_FAMILIES], description: "one of the eleven basic colour terms" },
  },
} as const;

const nullableSwatch = { anyOf: [colorSwatchSchema, { type: "null" }] } as const;

export const colorsSchema = {
  type: "object",
  required: ["palette", "foreground", "background", "accent", "grayscale"],
  properties: {
    palette: { type: "array", items: colorSwatchSchema, description: "dominant colours, largest share first" },
    foreground: { ...nullableSwatch, description: "the dominant colour away from the background (null for a one-colour image)" },
    background: { ...nullableSwatch, description: "the dominant colour of the border (null when it is mostly transparent)" },
    accent: { ...nullableSwatch, description: "the most chromatic colour other than the background (null when nothing is colourful)" },
    grayscale: { type: "boolean", description: "no colour anywhere: neutral grey, black or white" },
  },
} as const;

export const tagSchema = {
  type: "object",
  required: ["tag", "score", "source"],
  properties: {
    tag: { type: "string" },
    score: { type: "number", minimum: 0, maximum: 1, description: "caption tags: rank-weighted fraction of captions with it; colour tags: the family's share" },
    source: { type: "string", enum: ["noun", "adjective-noun", "color"] },
  },
} as const;

export const descriptionSchema = {
  type: "object",
  required: ["style", "text", "llm"],
  properties: {
    style: { type: "string" },
    text: { type: "string" },
    data: { description: "the parsed JSON reply of a JSON style (tags-json)" },
    llm: {
      type: "object",
      required: ["used"],
      description: "whether the LLM wrote it: {used: true, model, ms}, or {used: false, reason, detail} when the deterministic fallback did",
      properties: {
        used: { type: "boolean" },
        model: { type: "string" },
        ms: { type: "number" },
        reason: { type: "string", enum: ["not_configured", "timeout", "http_error", "connection_error", "invalid_reply"] },
        detail: { type: "string" },
      },
    },
  },
} as const;

/** The per-image fields a features request adds, each present only when asked for. */
export const featureResultProperties = {
  tags: { type: "array", items: tagSchema, description: "with features=tags: highest score first" },
  colors: { ...colorsSchema, description: "with features=colors" },
  description: { ...descriptionSchema, description: "with features=description" },
} as const;

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
      items: {
        type: "object",
        properties: { captions: { type: "array", items: captionSchema, description: "present unless features leaves out caption" }, ...featureResultProperties },
      },
    },
  },
} as const;

export const modelStatusSchema = {
  type: "object",
  required: ["name", "source", "state"],
  properties: {
    name: { type: "string" },
    source: { type: "string", description: "Hugging Face repo id, or a local folder's path (admin keys only; others see \"(local folder)\")" },
    revision: { type: ["string", "null"] },
    state: { type: "string", enum: ["loading", "ready", "failed", "remote"], description: "remote: served by `captioner worker` processes (serve --redis)" },
    error: { type: ["string", "null"] },
    loadSeconds: { type: ["number", "null"] },
    loadedAt: { type: ["string", "null"] },
    reloading: { type: "boolean" },
    version: { type: ["string", "null"], description: "the promoted model version it serves (null: the configured source); see GET /v1/admin/models/{name}/versions" },
  },
} as const;

export const jobSchema = {
  type: "object",
  required: ["id", "kind", "state", "progress", "createdAt", "updatedAt"],
  properties: {
    id: { type: "string" },
    kind: { type: "string", description: "caption | model.reload | draft | eval | dataset.import | train" },
    state: { type: "string", enum: ["queued", "running", "done", "failed", "cancelled"] },
    progress: { type: "number", minimum: 0, maximum: 1 },
    details: { description: "what the job reported with its progress (train jobs: phase, epoch, step, loss, validation scores per epoch); null if nothing" },
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

