/**
 * Settings of the restyling LLM: one OpenAI-compatible chat-completions endpoint (Ollama, vLLM,
 * llama.cpp server, OpenAI) and the named styles requests may choose from. Meant to sit in the server
 * config as its `llm` section; environment variables override the file, and the API key is read only
 * from the environment (named by `apiKeyEnv`) so it never lands in a config file or a config dump.
 *
 * With no `baseURL` the LLM is off and every description is the deterministic fallback.
 */
import { Ajv, type ValidateFunction } from "ajv";

type Setting =
  | { kind: "url" | "string" | "envName"; default: string; env?: string; doc: string }
  | { kind: "integer" | "number"; default: number; min: number; max: number; env?: string; doc: string }
  | { kind: "boolean"; default: boolean; env?: string; doc: string };

/** Every scalar setting: its kind, default, range, environment variable and help. */
export const LLM_SETTINGS = {
  baseURL: {
    kind: "url",
    default: "",
    env: "CAPTIONER_LLM_BASE_URL",
    doc: 'The endpoint\'s OpenAI-compatible base URL, e.g. "http://localhost:11434/v1" (Ollama), "http://localhost:8000/v1" (vLLM), "https://api.openai.com/v1". Empty: no LLM.',
  },
  model: { kind: "string", default: "", env: "CAPTIONER_LLM_MODEL", doc: 'The model name the endpoint knows, e.g. "llama3.2-vision" or "gpt-4o-mini".' },
  apiKeyEnv: {
    kind: "envName",
    default: "CAPTIONER_LLM_API_KEY",
    doc: "Name of the environment variable holding the API key (local servers need none).",
  },
  defaultStyle: { kind: "string", default: "alt-text", env: "CAPTIONER_LLM_DEFAULT_STYLE", doc: "The style used when a request names none." },
  timeoutMs: {
    kind: "integer",
    default: 20_000,
    min: 100,
    max: 600_000,
    env: "CAPTIONER_LLM_TIMEOUT_MS",
    doc: "Longest a description may take, waiting for a free slot and retries included; then the fallback answers.",
  },
  maxRetries: { kind: "integer", default: 2, min: 0, max: 5, env: "CAPTIONER_LLM_MAX_RETRIES", doc: "Retries after a 408/409/429/5xx answer or a lost connection." },
  maxConcurrent: { kind: "integer", default: 4, min: 1, max: 256, env: "CAPTIONER_LLM_MAX_CONCURRENT", doc: "Most requests in flight to the endpoint at once; others wait." },
  temperature: { kind: "number", default: 0, min: 0, max: 2, doc: "Sampling temperature; 0 keeps descriptions as repeatable as the server allows." },
  maxTokens: { kind: "integer", default: 300, min: 1, max: 8192, doc: "Longest reply, in tokens (a style may set its own)." },
  vision: {
    kind: "boolean",
    default: false,
    env: "CAPTIONER_LLM_VISION",
    doc: "The model accepts images: attach the picture to the prompt as a data URL.",
  },
  maxImageBytes: {
    kind: "integer",
    default: 4 * 1024 * 1024,
    min: 1,
    max: 64 * 1024 * 1024,
    doc: "Largest picture attached; a larger one is left out and the prompt goes text-only.",
  },
  structuredOutputs: {
    kind: "boolean",
    default: true,
    doc: "Send a style's JSON schema as response_format (turn off for servers that reject it; replies are validated either way).",
  },
} as const satisfies Record<string, Setting>;

type SettingValue<S> = S extends { kind: "integer" | "number" } ? number : S extends { kind: "boolean" } ? boolean : string;
export type LlmSettings = { readonly [K in keyof typeof LLM_SETTINGS]: SettingValue<(typeof LLM_SETTINGS)[K]> };

/** How a style answers when the LLM is off or fails: deterministic text built from the caption, tags and colours. */
export const FALLBACK_KINDS = {
  caption: "The caption as a sentence.",
  short: "The caption, capitalised, cut to at most eight words.",
  product: "The caption as a sentence, then the main colours.",
  "tags-json": 'The tags as JSON: {"tags": ["…", …]}.',
} as const;
export type FallbackKind = keyof typeof FALLBACK_KINDS;

/** What a prompt template may mention. */
export const TEMPLATE_FIELDS = {
  caption: "the best caption",
  captions: "all captions, one per line",
  tags: "the tags, comma-separated",
  colors: "the palette's colour names with their families and shares",
} as const;

export interface StyleConfig {
  /** The system message. */
  system: string;
  /** The user message; `{{caption}}`, `{{captions}}`, `{{tags}}`, `{{colors}}` are filled in. */
  prompt: string;
  /** The reply must be JSON valid against this schema (draft 2020-12 subset that ajv supports). */
  jsonSchema?: Record<string, unknown>;
  fallback: FallbackKind;
  /** Attach the picture when the endpoint has `vision` (default true). */
  attachImage: boolean;
  maxTokens?: number;
}

export interface LlmConfig extends LlmSettings {
  readonly styles: Readonly<Record<string, Readonly<StyleConfig>>>;
}

export const TAGS_JSON_SCHEMA = {
  type: "object",
  properties: {
    tags: { type: "array", items: { type: "string", minLength: 1, maxLength: 60 }, minItems: 1, maxItems: 30 },
  },
  required: ["tags"],
  additionalProperties: false,
} as const;

const CONTEXT = "Automatic caption: {{caption}}\nTags: {{tags}}\nMain colours: {{colors}}";

export const BUILTIN_STYLES: Readonly<Record<string, StyleConfig>> = Object.freeze({
  "alt-text": {
    system: "You write alt text for images on web pages: one plain sentence, under 125 characters, that says what the image shows. Never start with 'image of' or 'picture of'.",
    prompt: `${CONTEXT}\n\nWrite the alt text. Reply with the alt text only.`,
    fallback: "caption",
    attachImage: true,
  },
  product: {
    system: "You write short, factual e-commerce product descriptions. Describe only what is visible; invent no brand, size or material.",
    prompt: `${CONTEXT}\n\nWrite a two-sentence product description. Reply with the description only.`,
    fallback: "product",
    attachImage: true,
  },
  short: {
    system: "You write very short image titles.",
    prompt: `${CONTEXT}\n\nWrite a title of at most eight words. Reply with the title only, without quotes or a full stop.`,
    fallback: "short",
    attachImage: true,
    maxTokens: 40,
  },
  "tags-json": {
    system: "You tag images for search. You answer with JSON only.",
    prompt: `${CONTEXT}\n\nGive 5 to 15 lowercase search tags (single words or short phrases) for this image as JSON: {"tags": ["…"]}.`,
    jsonSchema: TAGS_JSON_SCHEMA,
    fallback: "tags-json",
    attachImage: true,
  },
});

export class LlmConfigError extends Error {
  override name = "LlmConfigError";
}

const ajv = new Ajv({ allErrors: true, strict: false });
const compiledSchemas = new WeakMap<object, ValidateFunction>();

/** The compiled validator of a style's schema (compiled once per schema object). */
export function schemaValidator(schema: Record<string, unknown>): ValidateFunction {
  let validate = compiledSchemas.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiledSchemas.set(schema, validate);
  }
  return validate;
}

/**
 * Reads the `llm` section of the server config (any JSON value; undefined = all defaults), with
 * environment overrides. Throws {@link LlmConfigError} naming the setting, where the value came from,
 * what is accepted, and an example.
 * @example parseLlmConfig({ baseURL: "http://localhost:11434/v1", model: "llama3.2" }).timeoutMs // 20000
 */
export function parseLlmConfig(section: unknown = {}, env: NodeJS.ProcessEnv = process.env): LlmConfig {
  if (typeof section !== "object" || section === null || Array.isArray(section)) {
    throw new LlmConfigError(`llm must be an object such as {"baseURL": "http://localhost:11434/v1", "model": "llama3.2"} (got ${JSON.stringify(section)}).`);
  }
  const raw = section as Record<string, unknown>;
  const known = new Set([...Object.keys(LLM_SETTINGS), "styles"]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new LlmConfigError(`llm.${key} is not a setting; the settings are ${[...known].join(", ")}.`);
  }

  const settings: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(LLM_SETTINGS) as Array<[string, Setting]>) {
    const fromEnv = setting.env !== undefined && env[setting.env] !== undefined && env[setting.env] !== "";
    const where = fromEnv ? `environment variable ${setting.env}` : `llm.${key}`;
    const value = fromEnv ? parseEnvValue(setting, env[setting.env!]!, where) : (raw[key] ?? setting.default);
    settings[key] = checkSetting(setting, value, where);
  }
  if (settings.baseURL && !settings.model) {
    throw new LlmConfigError(`llm.model is required when llm.baseURL is set: name the model the endpoint serves (set llm.model or CAPTIONER_LLM_MODEL). ${LLM_SETTINGS.model.doc}`);
  }

  const styles = { ...BUILTIN_STYLES, ...parseStyles(raw.styles) };
  if (!(String(settings.defaultStyle) in styles)) {
    throw new LlmConfigError(`llm.defaultStyle "${settings.defaultStyle}" is not a configured style; choose one of ${Object.keys(styles).join(", ")}.`);
  }
  return Object.freeze({ ...(settings as LlmSettings), styles: Object.freeze(styles) });
}

function parseEnvValue(setting: Setting, text: string, where: string): unknown {
  if (setting.kind === "integer" || setting.kind === "number") return Number(text);
  if (setting.kind === "boolean") {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw new LlmConfigError(`${where} must be true or false (got "${text}").`);
  }
  return text;
}

function checkSetting(setting: Setting, value: unknown, where: string): unknown {
  const refuse = (what: string) => {
    throw new LlmConfigError(`${where} must be ${what} (got ${JSON.stringify(value)}). ${setting.doc}`);
  };
  switch (setting.kind) {
    case "integer":
    case "number": {
      const ok = typeof value === "number" && (setting.kind === "integer" ? Number.isInteger(value) : Number.isFinite(value));
      if (!ok || (value as number) < setting.min || (value as number) > setting.max) refuse(`${setting.kind === "integer" ? "an integer" : "a number"} from ${setting.min} to ${setting.max}`);
      return value;
    }
    case "boolean":
      if (typeof value !== "boolean") refuse("true or false");
      return value;
    case "url":
      if (typeof value !== "string") refuse("a string");
      if (value !== "" && !/^https?:\/\/[^/\s]+/.test(value as string)) refuse('an http(s) URL such as "http://localhost:11434/v1", or "" for no LLM');
      return (value as string).replace(/\/+$/, "");
    case "envName":
      if (typeof value !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) refuse('an environment variable name such as "OPENAI_API_KEY"');
      return value;
    case "string":
      if (typeof value !== "string") refuse("a string");
      return value;
  }
}

const STYLE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

function parseStyles(value: unknown): Record<string, StyleConfig> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new LlmConfigError(`llm.styles must be an object of named styles, e.g. {"seo": {"prompt": "…", "fallback": "caption"}} (got ${JSON.stringify(value)}).`);
  }
  const styles: Record<string, StyleConfig> = {};
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    const where = `llm.styles.${name}`;
    if (!STYLE_NAME.test(name)) throw new LlmConfigError(`${where}: a style name is lowercase letters, digits and dashes, starting with a letter (at most 32).`);
    styles[name] = parseStyle(raw, where, BUILTIN_STYLES[name]);
  }
  return styles;
}

/** A configured style; fields it leaves out come from the built-in style of the same name, if any. */
function parseStyle(raw: unknown, where: string, base: StyleConfig | undefined): StyleConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new LlmConfigError(`${where} must be an object with at least "prompt" and "fallback".`);
  const r = { ...base, ...(raw as Record<string, unknown>) } as Record<string, unknown>;
  const fields = ["system", "prompt", "jsonSchema", "fallback", "attachImage", "maxTokens"];
  for (const key of Object.keys(raw)) if (!fields.includes(key)) throw new LlmConfigError(`${where}.${key} is not a style field; the fields are ${fields.join(", ")}.`);
  if (typeof r.prompt !== "string" || r.prompt.trim() === "") throw new LlmConfigError(`${where}.prompt must be a non-empty template string, e.g. "Describe: {{caption}}".`);
  for (const text of [r.prompt, r.system ?? ""]) {
    for (const [, field] of String(text).matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
      if (!(field in TEMPLATE_FIELDS)) throw new LlmConfigError(`${where} uses {{${field}}}; templates may use ${Object.keys(TEMPLATE_FIELDS).map((f) => `{{${f}}}`).join(", ")}.`);
    }
  }
  if (r.system !== undefined && typeof r.system !== "string") throw new LlmConfigError(`${where}.system must be a string.`);
  if (typeof r.fallback !== "string" || !(r.fallback in FALLBACK_KINDS)) {
    throw new LlmConfigError(`${where}.fallback must be one of ${Object.keys(FALLBACK_KINDS).join(", ")} (got ${JSON.stringify(r.fallback)}).`);
  }
  if (r.attachImage !== undefined && typeof r.attachImage !== "boolean") throw new LlmConfigError(`${where}.attachImage must be true or false.`);
  if (r.maxTokens !== undefined && !(Number.isInteger(r.maxTokens) && (r.maxTokens as number) >= 1 && (r.maxTokens as number) <= 8192)) {
    throw new LlmConfigError(`${where}.maxTokens must be an integer from 1 to 8192 (got ${JSON.stringify(r.maxTokens)}).`);
  }
  if (r.jsonSchema !== undefined) {
    if (typeof r.jsonSchema !== "object" || r.jsonSchema === null) throw new LlmConfigError(`${where}.jsonSchema must be a JSON schema object.`);
    try {
      schemaValidator(r.jsonSchema as Record<string, unknown>);
    } catch (error) {
      throw new LlmConfigError(`${where}.jsonSchema is not a valid JSON schema: ${(error as Error).message}`);
    }
  }
  return {
    system: (r.system as string | undefined) ?? "",
    prompt: r.prompt,
    ...(r.jsonSchema ? { jsonSchema: r.jsonSchema as Record<string, unknown> } : {}),
    fallback: r.fallback as FallbackKind,
    attachImage: (r.attachImage as boolean | undefined) ?? true,
    ...(r.maxTokens !== undefined ? { maxTokens: r.maxTokens as number } : {}),
  };
}
