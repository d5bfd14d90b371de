// The machinery every family's config parser shares: a field table (camelCase name, HF key, kind,
// transformers 4.40 default) read and written back from one declaration, value checks whose
// messages name the key to fix, and PretrainedConfig's generation attributes.

/** A config.json with a bad value; each family's parser throws its own subclass. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Kind =
  | "posInt" | "nonNegInt" | "posNumber" | "nonNegNumber" | "number" | "prob" | "bool" | "act" | "tokenId"
  | "intOrNull" | "earlyStopping" | "tokenIds" | "tokenIdOrNull";
export type Field = readonly [camel: string, hf: string, kind: Kind, fallback: unknown];

// Activation names transformers 4.40 knows (ACT2FN); anything else fails there too.
const ACTIVATIONS = new Set([
  "gelu", "gelu_10", "gelu_fast", "gelu_new", "gelu_python", "gelu_pytorch_tanh", "gelu_accurate", "laplace",
  "leaky_relu", "linear", "mish", "quick_gelu", "relu", "relu2", "relu6", "sigmoid", "silu", "swish", "tanh",
]);

const KIND_TEXT: Readonly<Record<Kind, string>> = {
  posInt: "a positive integer", nonNegInt: "a non-negative integer", posNumber: "a positive number",
  nonNegNumber: "a non-negative number", number: "a number", prob: "a number in [0, 1]", bool: "true or false",
  act: `one of ${[...ACTIVATIONS].join(", ")}`, tokenId: "a non-negative integer token id",
  intOrNull: "an integer or null", earlyStopping: 'true, false or "never"',
  tokenIds: "a token id or a non-empty list of token ids", tokenIdOrNull: "a non-negative integer token id or null",
};

const isTokenId = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

function valid(kind: Kind, v: unknown): boolean {
  const num = typeof v === "number" && Number.isFinite(v);
  switch (kind) {
    case "posInt": return Number.isSafeInteger(v) && (v as number) > 0;
    case "nonNegInt": case "tokenId": return isTokenId(v);
    case "posNumber": return num && (v as number) > 0;
    case "nonNegNumber": return num && (v as number) >= 0;
    case "number": return num;
    case "prob": return num && (v as number) >= 0 && (v as number) <= 1;
    case "bool": return typeof v === "boolean";
    case "act": return typeof v === "string" && ACTIVATIONS.has(v);
    case "intOrNull": return v === null || Number.isSafeInteger(v);
    case "earlyStopping": return typeof v === "boolean" || v === "never";
    case "tokenIds": return isTokenId(v) || (Array.isArray(v) && v.length > 0 && v.every(isTokenId));
    case "tokenIdOrNull": return v === null || isTokenId(v);
  }
}

/** The fields of `src` (defaults for absent keys) by camelCase name; a bad value throws `error` naming `where` + key. */
export function readFields(
  src: Record<string, unknown>, fields: readonly Field[], where: string, error: new (message: string) => Error = ConfigError,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [camel, hf, kind, fallback] of fields) {
    const v = hf in src ? src[hf] : fallback;
    if (!valid(kind, v)) throw new error(`${where}${hf} must be ${KIND_TEXT[kind]}, got ${JSON.stringify(v)}`);
    out[camel] = v;
  }
  return out;
}

/** The fields of `obj` under their HF keys (a config written back). */
export function writeFields(obj: object, fields: readonly Field[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [camel, hf] of fields) out[hf] = (obj as Record<string, unknown>)[camel];
  return out;
}

export function deepFreeze<T>(o: T): T {
  if (typeof o === "object" && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

// PretrainedConfig's generation attributes (4.40 defaults): what a sub-model's generate() starts from.
export const GENERATION_FIELDS: readonly Field[] = [
  ["maxLength", "max_length", "posInt", 20],
  ["minLength", "min_length", "nonNegInt", 0],
  ["doSample", "do_sample", "bool", false],
  ["earlyStopping", "early_stopping", "earlyStopping", false],
  ["numBeams", "num_beams", "posInt", 1],
  ["numReturnSequences", "num_return_sequences", "posInt", 1],
  ["lengthPenalty", "length_penalty", "number", 1.0],
  ["repetitionPenalty", "repetition_penalty", "posNumber", 1.0],
  ["noRepeatNgramSize", "no_repeat_ngram_size", "nonNegInt", 0],
];

/** `json[key]` as an object (absent: `{}`), whose `model_type`, when given, must be `modelType`. */
export function subObject(
  json: Record<string, unknown>, key: string, modelType: string, error: new (message: string) => Error = ConfigError,
): Record<string, unknown> {
  const v = json[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new error(`config.json: ${key} must be an object`);
  const sub = v as Record<string, unknown>;
  if (sub.model_type !== undefined && sub.model_type !== modelType) {
    throw new error(`config.json: ${key}.model_type is ${JSON.stringify(sub.model_type)}, expected "${modelType}"`);
  }
  return sub;
}

/** Attention needs the width to split evenly into heads. */
export function checkHeads(where: string, hidden: number, heads: number, error: new (message: string) => Error = ConfigError): void {
  if (hidden % heads !== 0) {
    throw new error(`config.json: ${where}.hidden_size ${hidden} is not a multiple of ${where}.num_attention_heads ${heads}`);
  }
}
