// The server's configuration: a JSON file, then CAPTIONER_* environment variables, then command-line
// flags, each layer overriding the one before. One typed, read-only object comes out; every bad
// value is refused at start-up with a message naming the setting and where it came from.
import * as fs from "node:fs";
import * as path from "node:path";
import { defaultDataDir } from "./db.js";
import { hubSettingsFromEnv } from "../hub/index.js";
import type { OptionLimits } from "../generation/options.js";
import { type Quantize, quantizeModes } from "../engine/graph.js";
import { type LlmConfig, LlmConfigError, parseLlmConfig } from "../enrich/llm_config.js";

export type { Quantize };

/** One servable model: a Hugging Face repo id (+ revision) or a local checkpoint folder. */
export interface ModelConfig {
  source: string;
  revision?: string;
  quantize?: Quantize;
}

/** The limits; those that cap generation options (maxBeams, maxNewTokens) are declared with the option table. */
export interface ServerLimits extends OptionLimits {
  maxImagesPerRequest: number;
  maxUploadBytes: number;
  maxPixels: number;
  batchSize: number;
  batchWindowMs: number;
  queueMaxDepth: number;
  requestTimeoutMs: number;
  /** Time a client has to send a whole request (headers and body); a slow upload then gets 408. */
  bodyTimeoutMs: number;
  /** Largest file (zip or parquet) POST /v1/datasets/{name}/import accepts. */
  maxImportBytes: number;
  /** Decoded image bytes (pixels × channels × bytes per sample) all requests may hold at once. */
  maxDecodedBytes: number;
  /** Seconds a finished job (its state and result) stays readable before it is deleted; its input goes when it ends. */
  jobRetentionSeconds: number;
  /** Image bytes one caption job (POST /v1/jobs/captions) may carry in all; its JSON body limit is derived from it. */
  maxJobBytes: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  models: Readonly<Record<string, Readonly<ModelConfig>>>;
  limits: Readonly<ServerLimits>;
  /** Holds `captioner.db` (API keys, the embedded job queue); default `$CAPTIONER_HOME`, else `~/.captioner`. */
  dataDir: string;
  /** Set: captioning goes through Redis + BullMQ workers instead of this process's models. */
  redisUrl?: string;
  /** May start-up download configured models that are not in the HF cache? */
  allowDownloads: boolean;
  /** onnxruntime intra-op threads per model (default: onnxruntime's choice). */
  threads?: number;
  /** The restyling LLM and the description styles requests may choose (`llm` section; CAPTIONER_LLM_* override it). */
  llm: LlmConfig;
  /** Origins whose pages may call the API from a browser (CORS); "*" for any; empty (default): CORS off. */
  corsOrigins: readonly string[];
}

/** What `serve`'s flags may set (all optional; `models` are `NAME=SOURCE` strings). */
export interface ServerFlags {
  host?: string;
  port?: number | string;
  models?: string[];
  redis?: string;
  dataDir?: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export const DEFAULT_MODELS: Readonly<Record<string, ModelConfig>> = Object.freeze({ blip: { source: "Salesforce/blip-image-captioning-base" } });

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxBeams: 5,
  maxNewTokens: 64,
  maxImagesPerRequest: 16,
  maxUploadBytes: 20 * 1024 * 1024,
  maxPixels: 50_000_000,
  batchSize: 8,
  batchWindowMs: 5,
  queueMaxDepth: 64,
  requestTimeoutMs: 120_000,
  bodyTimeoutMs: 30_000,
  maxImportBytes: 1024 ** 3,
  maxDecodedBytes: 1024 * 1024 * 1024,
  jobRetentionSeconds: 7 * 24 * 3600,
  maxJobBytes: 128 * 1024 * 1024,
});

/** Each limit's name in the file (`limits.*`) and its environment variable; minimum accepted value. */
const LIMIT_SETTINGS: Record<keyof ServerLimits, { env: string; min: number }> = {
  maxBeams: { env: "CAPTIONER_MAX_BEAMS", min: 1 },
  maxNewTokens: { env: "CAPTIONER_MAX_NEW_TOKENS", min: 1 },
  maxImagesPerRequest: { env: "CAPTIONER_MAX_IMAGES_PER_REQUEST", min: 1 },
  maxUploadBytes: { env: "CAPTIONER_MAX_UPLOAD_BYTES", min: 1 },
  maxPixels: { env: "CAPTIONER_MAX_PIXELS", min: 1 },
  batchSize: { env: "CAPTIONER_BATCH_SIZE", min: 1 },
  batchWindowMs: { env: "CAPTIONER_BATCH_WINDOW_MS", min: 0 },
  queueMaxDepth: { env: "CAPTIONER_QUEUE_MAX_DEPTH", min: 1 },
  requestTimeoutMs: { env: "CAPTIONER_REQUEST_TIMEOUT_MS", min: 1 },
  bodyTimeoutMs: { env: "CAPTIONER_BODY_TIMEOUT_MS", min: 1 },
  maxImportBytes: { env: "CAPTIONER_MAX_IMPORT_BYTES", min: 1 },
  maxDecodedBytes: { env: "CAPTIONER_MAX_DECODED_BYTES", min: 1 },
  jobRetentionSeconds: { env: "CAPTIONER_JOB_RETENTION_SECONDS", min: 1 },
  maxJobBytes: { env: "CAPTIONER_MAX_JOB_BYTES", min: 1 },
};

const FILE_KEYS = ["host", "port", "models", "limits", "dataDir", "redisUrl", "allowDownloads", "threads", "llm", "corsOrigins"];
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Reads the configuration: `file` (JSON; `env.CAPTIONER_CONFIG` when not given), then `env`, then
 * `flags`. Models merge by name across layers (later wins); the default `blip` model applies only
 * when no layer names any model.
 * @example loadServerConfig({ env: process.env, flags: { models: ["blip=./my-model"] } })
 */
export function loadServerConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: ServerFlags } = {}): ServerConfig {
  const env = opts.env ?? {};
  const flags = opts.flags ?? {};
  const file = opts.file ?? nonEmpty(env.CAPTIONER_CONFIG);
  const fromFile = file ? readConfigFile(file) : {};
  const where = file ? `config file ${file}` : "";

  const models: Record<string, ModelConfig> = {};
  for (const [name, value] of Object.entries(asObject(fromFile.models ?? {}, `"models" in ${where}`))) {
    models[checkModelName(name, where)] = parseModelEntry(value, `models.${name} in ${where}`);
  }
  for (const spec of splitList(env.CAPTIONER_MODELS)) Object.assign(models, parseModelSpec(spec, "CAPTIONER_MODELS"));
  for (const spec of flags.models ?? []) Object.assign(models, parseModelSpec(spec, "--model"));

  const limits = { ...DEFAULT_LIMITS };
  const fileLimits = asObject(fromFile.limits ?? {}, `"limits" in ${where}`);
  for (const key of Object.keys(fileLimits)) {
    if (!(key in LIMIT_SETTINGS)) throw new ConfigError(`unknown setting limits.${key} in ${where}; known limits: ${Object.keys(LIMIT_SETTINGS).join(", ")}`);
  }
  for (const [key, { env: variable, min }] of Object.entries(LIMIT_SETTINGS) as [keyof ServerLimits, { env: string; min: number }][]) {
    if (fileLimits[key] !== undefined) limits[key] = wholeNumber(fileLimits[key], min, `limits.${key} in ${where}`);
    if (nonEmpty(env[variable]) !== undefined) limits[key] = wholeNumber(env[variable], min, variable);
  }

  const offline = hubSettingsFromEnv(env).offline; // the hub client's own reading (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE)
  const envDownloads = nonEmpty(env.CAPTIONER_ALLOW_DOWNLOADS);
  const portFlag = flags.port === undefined ? undefined : wholeNumber(flags.port, 0, "--port", 65535);
  const threadsEnv = nonEmpty(env.CAPTIONER_THREADS);
  const config: ServerConfig = {
    host: flags.host ?? nonEmpty(env.CAPTIONER_HOST) ?? optionalString(fromFile.host, `host in ${where}`) ?? "0.0.0.0",
    port: portFlag ?? (nonEmpty(env.CAPTIONER_PORT) !== undefined ? wholeNumber(env.CAPTIONER_PORT, 0, "CAPTIONER_PORT", 65535) : fromFile.port !== undefined ? wholeNumber(fromFile.port, 0, `port in ${where}`, 65535) : 8000),
    models: Object.keys(models).length > 0 ? models : { ...DEFAULT_MODELS },
    limits,
    dataDir: path.resolve(flags.dataDir ?? nonEmpty(env.CAPTIONER_HOME) ?? optionalString(fromFile.dataDir, `dataDir in ${where}`) ?? defaultDataDir()),
    allowDownloads: envDownloads !== undefined ? parseBoolean(envDownloads, "CAPTIONER_ALLOW_DOWNLOADS") : fromFile.allowDownloads !== undefined ? parseBoolean(fromFile.allowDownloads, `allowDownloads in ${where}`) : !offline,
    llm: llmSection(fromFile.llm, env, where),
    corsOrigins: nonEmpty(env.CAPTIONER_CORS_ORIGINS) !== undefined ? corsOrigins(splitList(env.CAPTIONER_CORS_ORIGINS), "CAPTIONER_CORS_ORIGINS") : corsOrigins(fromFile.corsOrigins ?? [], `corsOrigins in ${where}`),
  };
  const redisUrl = flags.redis ?? nonEmpty(env.CAPTIONER_REDIS_URL) ?? optionalString(fromFile.redisUrl, `redisUrl in ${where}`);
  if (redisUrl !== undefined) config.redisUrl = checkRedisUrl(redisUrl);
  if (threadsEnv !== undefined) config.threads = wholeNumber(threadsEnv, 1, "CAPTIONER_THREADS");
  else if (fromFile.threads !== undefined) config.threads = wholeNumber(fromFile.threads, 1, `threads in ${where}`);
  return deepFreeze(config);
}

/** The `llm` section through the enrich layer's own parser, its errors as ConfigErrors that say which file. */
function llmSection(section: unknown, env: NodeJS.ProcessEnv, where: string): LlmConfig {
  try {
    return parseLlmConfig(section ?? {}, env);
  } catch (error) {
    if (error instanceof LlmConfigError) throw new ConfigError(where ? `${error.message} (in ${where})` : error.message);
    throw error;
  }
}

/** CORS origins: "*" or full origins like https://app.example.com (scheme, host, optional port; no path). */
function corsOrigins(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw new ConfigError(`${where} must be a list of origins, e.g. ["https://app.example.com"] (or ["*"])`);
  for (const origin of value as string[]) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new ConfigError(`${where}: "${origin}" is not an origin; write it as https://host[:port] with no path, or "*" for any`);
  }
  return value as string[];
}

/** Parses `NAME=SOURCE` (SOURCE: folder or `org/name[@revision]`). */
export function parseModelSpec(spec: string, origin: string): Record<string, ModelConfig> {
  const at = spec.indexOf("=");
  if (at <= 0 || at === spec.length - 1) {
    throw new ConfigError(`${origin} "${spec}" must look like NAME=SOURCE, e.g. blip=Salesforce/blip-image-captioning-base or blip=./models/blip`);
  }
  const name = checkModelName(spec.slice(0, at).trim(), origin);
  const source = spec.slice(at + 1).trim();
  const revisionAt = source.lastIndexOf("@");
  // `org/name@rev` names a hub revision; an existing folder containing "@" stays a folder.
  if (revisionAt > 0 && !fs.existsSync(source)) return { [name]: { source: source.slice(0, revisionAt), revision: source.slice(revisionAt + 1) } };
  return { [name]: { source } };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read the config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const doc = asObject(parsed, `config file ${file}`);
  for (const key of Object.keys(doc)) {
    if (!FILE_KEYS.includes(key)) throw new ConfigError(`unknown setting "${key}" in config file ${file}; known settings: ${FILE_KEYS.join(", ")}`);
  }
  return doc;
}

function parseModelEntry(value: unknown, where: string): ModelConfig {
  if (typeof value === "string" && value.trim() !== "") return { source: value.trim() };
  const entry = asObject(value, where);
  for (const key of Object.keys(entry)) {
    if (!["source", "revision", "quantize"].includes(key)) throw new ConfigError(`unknown key "${key}" in ${where}; use source, revision, quantize`);
  }
  const source = optionalString(entry.source, `source of ${where}`);
  if (!source) throw new ConfigError(`${where} needs "source": a Hugging Face repo id (org/name) or a checkpoint folder`);
  const model: ModelConfig = { source };
  const revision = optionalString(entry.revision, `revision of ${where}`);
  if (revision) model.revision = revision;
  if (entry.quantize !== undefined) {
    if (!quantizeModes.includes(entry.quantize as Quantize)) throw new ConfigError(`quantize of ${where} must be ${orList(quantizeModes)}, got ${JSON.stringify(entry.quantize)}`);
    model.quantize = entry.quantize as Quantize;
  }
  return model;
}

/** `"a", "b" or "c"`. */
function orList(values: readonly string[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length < 2 ? quoted.join("") : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
}

function checkModelName(name: string, where: string): string {
  if (!MODEL_NAME.test(name)) throw new ConfigError(`model name "${name}" (${where}) must be 1-64 letters, digits, "_", "-" or ".", starting with a letter or digit`);
  return name;
}

function checkRedisUrl(url: string): string {
  if (!/^rediss?:\/\/./.test(url)) throw new ConfigError(`redis URL "${url}" must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379`);
  return url;
}

function wholeNumber(value: unknown, min: number, where: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(`${where} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function parseBoolean(value: unknown, where: string): boolean {
  if (typeof value === "boolean") return value;
  const text = String(value).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(value)}`);
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError(`${where} must be a JSON object`);
  return value as Record<string, unknown>;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new ConfigError(`${where} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

const nonEmpty = (v: string | undefined) => (v !== undefined && v.trim() !== "" ? v.trim() : undefined);
const splitList = (v: string | undefined) => (nonEmpty(v) ?? "").split(",").map((s) => s.trim()).filter(Boolean);

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) Object.values(value).forEach(deepFreeze);
  return Object.freeze(value);
}
