/**
 * Restyled descriptions (alt text, product copy, titles, JSON tags) from an OpenAI-compatible
 * chat-completions endpoint, through the official `openai` client pointed at `baseURL`.
 *
 * A description always comes back: when no endpoint is configured, or it is slow, down, or answers
 * something unusable, the style's deterministic fallback answers instead and `llm.used: false` says
 * why. Callers never need a try/catch around the LLM; only an unknown style is an error, because
 * requests may choose only among configured styles.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import type { ChatCompletionContentPart, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { ImageColors } from "./colors.js";
import { type FallbackKind, type LlmConfig, type StyleConfig, TEMPLATE_FIELDS, schemaValidator } from "./llm_config.js";
import { type Tag, tagsOf } from "./tags.js";

export interface RestyleInput {
  /** The best caption. */
  caption: string;
  /** Every caption, best first (e.g. beam search's n-best); default `[caption]`. */
  captions?: readonly string[];
  tags?: readonly Tag[];
  colors?: Pick<ImageColors, "palette"> | null;
  /** The picture, attached for vision models. */
  image?: { bytes: Uint8Array; mimeType: string };
}

/** Why the fallback answered. */
export type FallbackReason = "not_configured" | "timeout" | "http_error" | "connection_error" | "invalid_reply";

export type LlmUse = { used: true; model: string; ms: number } | { used: false; reason: FallbackReason; detail: string };

export interface Description {
  style: string;
  text: string;
  /** The parsed reply of a JSON style (`tags-json`), valid against its schema. */
  data?: unknown;
  llm: LlmUse;
}

export class UnknownStyleError extends Error {
  override name = "UnknownStyleError";
  constructor(
    readonly style: string,
    readonly configured: readonly string[],
  ) {
    super(`There is no description style "${style}"; the configured styles are ${configured.join(", ")}.`);
  }
}

/** The reply arrived but is not what the style asks for. */
class ReplyError extends Error {}

/** Extra construction options, for tests and embedding. */
export interface RestylerOptions {
  /** Where the API key variable is looked up (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

export class Restyler {
  private readonly client: OpenAI | null;
  private readonly slots: Slots;

  constructor(
    readonly config: LlmConfig,
    options: RestylerOptions = {},
  ) {
    const env = options.env ?? process.env;
    // Local servers take no key, but the client insists on one; they ignore the header.
    const apiKey = env[config.apiKeyEnv] || "no-key";
    // logLevel off: every failure is reported in the description's `llm.detail`, which the caller logs.
    this.client = config.baseURL
      ? new OpenAI({ baseURL: config.baseURL, apiKey, maxRetries: config.maxRetries, timeout: config.timeoutMs, logLevel: "off" })
      : null;
    this.slots = new Slots(config.maxConcurrent);
  }

  /** The styles a request may name. */
  get styles(): string[] {
    return Object.keys(this.config.styles);
  }

  /**
   * A description of the image in the given style; never rejects except for an unknown style.
   * @example (await restyler.describe({ caption: "a dog on a beach" }, "short")).text // "Dog on a sandy beach"
   */
  async describe(input: RestyleInput, styleName: string = this.config.defaultStyle): Promise<Description> {
    const style = this.config.styles[styleName];
    if (!style) throw new UnknownStyleError(styleName, this.styles);
    const fallback = (reason: FallbackReason, detail: string): Description => ({ style: styleName, ...fallbackText(style.fallback, input), llm: { used: false, reason, detail } });
    if (!this.client) return fallback("not_configured", "No LLM endpoint is configured (llm.baseURL / CAPTIONER_LLM_BASE_URL).");

    const started = performance.now();
    const deadline = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // The race bounds the answer time even while the client sleeps between retries, which no signal interrupts.
    const timedOut = new Promise<Description>((resolve) => {
      timer = setTimeout(() => {
        deadline.abort();
        resolve(fallback("timeout", `No complete reply within ${this.config.timeoutMs} ms (llm.timeoutMs).`));
      }, this.config.timeoutMs);
    });
    const attempt = this.complete(style, styleName, input, deadline.signal).then(
      (reply): Description => ({ style: styleName, ...reply, llm: { used: true, model: this.config.model, ms: Math.round(performance.now() - started) } }),
      (error: unknown) => (deadline.signal.aborted ? fallback("timeout", `No complete reply within ${this.config.timeoutMs} ms (llm.timeoutMs).`) : fallback(...classify(error))),
    );
    try {
      return await Promise.race([attempt, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async complete(style: StyleConfig, styleName: string, input: RestyleInput, signal: AbortSignal): Promise<{ text: string; data?: unknown }> {
    const release = await this.slots.acquire(signal);
    try {
      const stream = await this.client!.chat.completions.create(this.request(style, styleName, input), { signal });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      return parseReply(style, text);
    } finally {
      release();
    }
  }

  private request(style: StyleConfig, styleName: string, input: RestyleInput): ChatCompletionCreateParamsStreaming {
    const prompt = renderTemplate(style.prompt, input);
    const image = input.image;
    const attach = this.config.vision && style.attachImage && image !== undefined && image.bytes.length <= this.config.maxImageBytes;
    const content: string | ChatCompletionContentPart[] = attach
      ? [
          { type: "text", text: prompt },
          { type: "image_url", image_url: { url: `data:${image.mimeType};base64,${Buffer.from(image.bytes).toString("base64")}` } },
        ]
      : prompt;
    const messages: ChatCompletionMessageParam[] = [];
    if (style.system) messages.push({ role: "system", content: renderTemplate(style.system, input) });
    messages.push({ role: "user", content });
    return {
      model: this.config.model,
      messages,
      temperature: this.config.temperature,
      // max_tokens, not max_completion_tokens: Ollama, vLLM and llama.cpp understand only the older name.
      max_tokens: style.maxTokens ?? this.config.maxTokens,
      stream: true,
      ...(style.jsonSchema && this.config.structuredOutputs
        ? { response_format: { type: "json_schema", json_schema: { name: styleName.replace(/[^a-zA-Z0-9_-]/g, "_"), schema: style.jsonSchema } } }
        : {}),
    };
  }
}

/** Turns the reply text into the style's answer, or throws ReplyError saying what is wrong with it. */
function parseReply(style: StyleConfig, reply: string): { text: string; data?: unknown } {
  const text = reply.trim();
  if (text === "") throw new ReplyError("The reply was empty.");
  if (!style.jsonSchema) return { text };
  // Chat models often wrap JSON in a Markdown fence even when told not to.
  const json = text.replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/i, "$1");
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (error) {
    throw new ReplyError(`The reply is not JSON (${(error as Error).message}): ${JSON.stringify(text.slice(0, 120))}`);
  }
  const validate = schemaValidator(style.jsonSchema);
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
    throw new ReplyError(`The reply does not match the style's JSON schema: ${problems}.`);
  }
  return { text: JSON.stringify(data), data };
}

function classify(error: unknown): [FallbackReason, string] {
  if (error instanceof ReplyError) return ["invalid_reply", error.message];
  if (error instanceof APIUserAbortError || error instanceof APIConnectionTimeoutError) return ["timeout", error.message];
  if (error instanceof APIConnectionError) return ["connection_error", `${error.message}${error.cause ? ` (${(error.cause as Error).message})` : ""}`];
  if (error instanceof APIError) {
    return ["http_error", error.status !== undefined ? `HTTP ${error.status}: ${error.message}` : `The endpoint reported an error mid-stream: ${error.message}`];
  }
  // The stream's data lines were not JSON (a server speaking something else than the chat-completions protocol).
  if (error instanceof SyntaxError) return ["invalid_reply", `The endpoint's stream could not be parsed: ${error.message}`];
  return ["connection_error", error instanceof Error ? error.message : String(error)];
}

// ---- templates and fallbacks -------------------------------------------------------------------------

const MIN_COLOR_SHARE = 0.05;
const SHORT_WORDS = 8;
/** A title cut short must not end on a word that promises more ("a man on top of"). */
const DANGLING = new Set(["a", "an", "the", "of", "on", "in", "at", "to", "by", "for", "from", "with", "and", "or", "near", "next", "its", "their", "his", "her"]);

function templateValues(input: RestyleInput): Record<keyof typeof TEMPLATE_FIELDS, string> {
  const palette = input.colors?.palette ?? [];
  return {
    caption: input.caption,
    captions: (input.captions ?? [input.caption]).join("\n"),
    tags: input.tags?.map((t) => t.tag).join(", ") || "none",
    colors: palette.map((s) => `${s.family}${s.name !== s.family ? ` (${s.name})` : ""} ${Math.round(s.share * 100)}%`).join(", ") || "unknown",
  };
}

/**
 * Fills `{{field}}` placeholders (fields checked when the config was parsed).
 * @example renderTemplate("Caption: {{caption}}", { caption: "a cat" }) // "Caption: a cat"
 */
export function renderTemplate(template: string, input: RestyleInput): string {
  const values = templateValues(input);
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, field: string) => values[field as keyof typeof values] ?? "");
}

const sentence = (text: string) => {
  const clean = text.trim().replace(/\s+/g, " ");
  if (!clean) return "";
  const capitalised = clean[0].toUpperCase() + clean.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
};

/** The main colour families, largest first, each once. */
function mainFamilies(input: RestyleInput): string[] {
  const families = (input.colors?.palette ?? []).filter((s) => s.share >= MIN_COLOR_SHARE).map((s) => s.family);
  return [...new Set(families)].slice(0, 3);
}

/**
 * The deterministic description of a fallback kind: the same input always gives the same text.
 * @example fallbackText("caption", { caption: "a dog on a beach" }).text // "A dog on a beach."
 */
export function fallbackText(kind: FallbackKind, input: RestyleInput): { text: string; data?: unknown } {
  switch (kind) {
    case "caption":
      return { text: sentence(input.caption) };
    case "short": {
      const words = input.caption.trim().split(/\s+/).filter(Boolean).slice(0, SHORT_WORDS);
      while (words.length > 1 && DANGLING.has(words[words.length - 1].toLowerCase())) words.pop();
      return { text: sentence(words.join(" ")).replace(/\.$/, "") };
    }
    case "product": {
      const families = mainFamilies(input);
      return { text: [sentence(input.caption), families.length ? `Colors: ${families.join(", ")}.` : ""].filter(Boolean).join(" ") };
    }
    case "tags-json": {
      const tags = input.tags?.length ? input.tags : tagsOf(input.captions ?? [input.caption], input.colors);
      const data = { tags: [...new Set(tags.map((t) => t.tag))].slice(0, 30) };
      return { text: JSON.stringify(data), data };
    }
  }
}

// ---- concurrency cap ---------------------------------------------------------------------------------

/** A counting semaphore; waiting ends early when the signal aborts. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(signal: AbortSignal): Promise<() => void> {
    const release = () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
    const once = () => {
      let done = false;
      return () => {
        if (!done) (done = true), release();
      };
    };
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(once());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", cancel);
        resolve(once());
      };
      const cancel = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new APIUserAbortError({ message: "Gave up waiting for a free LLM slot." }));
      };
      if (signal.aborted) return cancel();
      signal.addEventListener("abort", cancel, { once: true });
      this.waiting.push(grant);
    });
  }
}
