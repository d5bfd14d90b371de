// The options of a caption request, declared once. A row gives the library's camelCase name (its
// property name), transformers' snake_case name (`key`: the generate() kwarg, the config.json key,
// the HTTP field; the CLI flag is the same words joined by dashes), the kind and valid range, the
// server's cap, transformers 4.40's default and the one description that the CLI help and the
// OpenAPI document show. The library's types, the defaults and the value check below, the HTTP
// schema (api/schemas.ts), the CLI flags (cli/common.ts) and the server's limit check
// (serving/caption_service.ts) are derived from it.
//
// Why the generation layer: the table describes a call of generate(). config.json's generation keys
// are read by models/blip/config.ts, a layer above that cannot import this file; that list stays a
// config field list of its own (it also holds do_sample and early_stopping="never", which are no
// request options, and its error messages name config.json), and test/generation/options.test.ts
// checks that its keys and defaults agree with this table.

export type OptionKind = "int" | "number" | "boolean" | "string";

/** The server settings that cap options (the server's ServerLimits extends this). */
export interface OptionLimits {
  /** Most beams: caps num_beams and num_return_sequences. */
  maxBeams: number;
  /** Most generated tokens per caption: caps the length options. */
  maxNewTokens: number;
}

/** A cap that follows a server limit: the limit's value, plus `plus`. */
export interface LimitCap {
  readonly limit: keyof OptionLimits;
  readonly plus?: number;
}

export interface OptionField {
  readonly key: string;
  readonly kind: OptionKind;
  /** Valid values are ≥ min (library, CLI and server alike). */
  readonly min?: number;
  /** Valid values are > above. */
  readonly above?: number;
  /** The server's floor, where stricter than the valid range. */
  readonly serverMin?: number;
  /** The server's ceiling (for a string: its length in characters). */
  readonly serverMax?: number | LimitCap;
  /** transformers 4.40's default; with `fromModel`, a model's config.json may set its own. */
  readonly default?: number | boolean;
  readonly fromModel?: true;
  /** `{other_option}` names another option, spelled as the reader types it (`--num-beams` or `num_beams`). */
  readonly description: string;
}

/** Total lengths (max_length, min_length) may exceed the server's maxNewTokens by this: room for [DEC] and a prompt. */
const PROMPT_ROOM = 64;

export const OPTION_FIELDS = {
  prompt: { key: "prompt", kind: "string", serverMax: 500, description: "text to condition the caption on (BLIP: the caption starts with it; BLIP-2: the caption continues it, without repeating it)" },
  maxNewTokens: {
    key: "max_new_tokens", kind: "int", min: 1, serverMax: { limit: "maxNewTokens" },
    description: "maximum number of generated tokens (wins over {max_length})",
  },
  minNewTokens: {
    key: "min_new_tokens", kind: "int", min: 0, serverMax: { limit: "maxNewTokens" },
    description: "minimum number of generated tokens before the end token ([SEP]; BLIP-2: a newline) may end the caption; when given (0 too), replaces {min_length}",
  },
  maxLength: {
    key: "max_length", kind: "int", min: 1, serverMax: { limit: "maxNewTokens", plus: PROMPT_ROOM }, default: 20, fromModel: true,
    description: "maximum total length, start token ([DEC]; BLIP-2: </s>) and prompt included (BLIP-2 generates one token fewer)",
  },
  minLength: {
    key: "min_length", kind: "int", min: 0, serverMax: { limit: "maxNewTokens", plus: PROMPT_ROOM }, default: 0, fromModel: true,
    description: "minimum total length, start token ([DEC]; BLIP-2: </s>) and prompt included",
  },
  numBeams: {
    key: "num_beams", kind: "int", min: 1, serverMax: { limit: "maxBeams" }, default: 1, fromModel: true,
    description: "beam search width (1 = greedy)",
  },
  numReturnSequences: {
    key: "num_return_sequences", kind: "int", min: 1, serverMax: { limit: "maxBeams" }, default: 1, fromModel: true,
    description: "captions per image (≤ {num_beams})",
  },
  lengthPenalty: {
    key: "length_penalty", kind: "number", serverMin: -10, serverMax: 10, default: 1, fromModel: true,
    description: "beam score = log-prob / length^x",
  },
  earlyStopping: {
    key: "early_stopping", kind: "boolean", default: false, fromModel: true,
    description: "beam search stops once {num_beams} captions are finished",
  },
  repetitionPenalty: {
    key: "repetition_penalty", kind: "number", above: 0, serverMax: 10, default: 1, fromModel: true,
    description: "penalise tokens already present (> 1 discourages repeats)",
  },
  noRepeatNgramSize: {
    key: "no_repeat_ngram_size", kind: "int", min: 0, serverMax: { limit: "maxNewTokens" }, default: 0, fromModel: true,
    description: "forbid repeating n-grams of this size (0 = off)",
  },
} as const satisfies Record<string, OptionField>;

type Fields = typeof OPTION_FIELDS;
export type OptionName = keyof Fields;
/** The snake_case name of option `N`. */
export type OptionKey<N extends OptionName> = Fields[N]["key"];
/** The JavaScript type of option `N`'s values. */
export type OptionValue<N extends OptionName> = { int: number; number: number; boolean: boolean; string: string }[Fields[N]["kind"]];

/** Every option, in the table's order (the order of the CLI help and the HTTP schema). */
export const OPTION_NAMES = Object.keys(OPTION_FIELDS) as OptionName[];

/** The row of option `name`. */
export function optionField(name: OptionName): OptionField {
  return OPTION_FIELDS[name];
}

/** Generation options (transformers' names in camelCase); unset ones take the model's defaults. */
export type GenerationOptions = { [N in Exclude<OptionName, "prompt">]?: OptionValue<N> };

export interface CaptionOptions extends GenerationOptions {
  /** Text the caption must start with: one for all images, or one per image. */
  prompt?: string | readonly string[];
}

/** The options as transformers' generate() kwargs and the HTTP API spell them: `{num_beams: 3}`. */
export type CaptionKwargs = { [N in OptionName as OptionKey<N>]?: OptionValue<N> };

type ModelDefaultName = { [N in OptionName]: Fields[N] extends { fromModel: true } ? N : never }[OptionName];

/** A model's generation defaults (BLIP: from `text_config`). */
export type GenerationDefaults = { [N in ModelDefaultName]: OptionValue<N> };

export const TRANSFORMERS_DEFAULTS: GenerationDefaults = Object.freeze(
  Object.fromEntries(OPTION_NAMES.filter((n) => optionField(n).fromModel).map((n) => [n, optionField(n).default])) as GenerationDefaults,
);

export class GenerationOptionsError extends Error {
  override name = "GenerationOptionsError";
  /** `option_out_of_range` for lengths the prompt or the model cannot fit; `invalid_option` otherwise. */
  constructor(message: string, readonly code: "invalid_option" | "option_out_of_range" = "invalid_option") {
    super(message);
  }
}

/**
 * Checks each set value's kind and valid range, naming the option as the library does:
 * `checkOptionValues({numBeams: 0})` throws "numBeams must be an integer ≥ 1 (got 0)".
 */
export function checkOptionValues(options: CaptionOptions): void {
  for (const name of OPTION_NAMES) {
    const v = options[name];
    if (v === undefined || name === "prompt") continue; // one string or one per image; the captioner checks their count
    const problem = valueProblem(optionField(name), v);
    if (problem) throw new GenerationOptionsError(`${name} must be ${problem} (got ${v})`);
  }
}

/** What a value of `f` must be, or undefined when `v` is one. */
function valueProblem(f: OptionField, v: unknown): string | undefined {
  switch (f.kind) {
    case "boolean":
      return typeof v === "boolean" ? undefined : "true or false";
    case "string":
      return typeof v === "string" ? undefined : "a string";
    case "int":
      return Number.isSafeInteger(v) && (f.min === undefined || (v as number) >= f.min) ? undefined : `an integer${f.min === undefined ? "" : ` ≥ ${f.min}`}`;
    case "number": {
      const ok = typeof v === "number" && Number.isFinite(v) && (f.min === undefined || v >= f.min) && (f.above === undefined || v > f.above);
      if (ok) return undefined;
      return f.above !== undefined ? `> ${f.above}` : f.min !== undefined ? `a number ≥ ${f.min}` : "a finite number";
    }
  }
}

/** The library's options in transformers' spelling; unset ones are left out. */
export function toKwargs(options: CaptionOptions): Record<string, CaptionOptions[OptionName]> {
  return Object.fromEntries(OPTION_NAMES.filter((n) => options[n] !== undefined).map((n) => [optionField(n).key, options[n]]));
}

/** transformers-spelled options (e.g. an HTTP request's) as the library's; unset ones are left out. */
export function fromKwargs(kwargs: CaptionKwargs): CaptionOptions {
  const values = kwargs as Record<string, CaptionOptions[OptionName]>;
  return Object.fromEntries(OPTION_NAMES.filter((n) => values[optionField(n).key] !== undefined).map((n) => [n, values[optionField(n).key]]));
}

const LIBRARY_NAME = new RegExp(`\\b(${OPTION_NAMES.join("|")})\\b`, "g");

/** A library message with transformers' option names: "numBeams (2)" → "num_beams (2)". */
export function withKwargNames(message: string): string {
  return message.replace(LIBRARY_NAME, (name) => optionField(name as OptionName).key);
}

/** The server's ceiling for option `name` under `limits`, and why, for messages: "the server's maxBeams limit". */
export function serverCap(name: OptionName, limits: OptionLimits): { max: number; limit?: keyof OptionLimits; reason: string } | undefined {
  const cap = optionField(name).serverMax;
  if (cap === undefined) return undefined;
  if (typeof cap === "number") return { max: cap, reason: "the server's limit" };
  return { max: limits[cap.limit] + (cap.plus ?? 0), limit: cap.limit, reason: `the server's ${cap.limit} limit${cap.plus ? ` + ${cap.plus}` : ""}` };
}

/** Option `name`'s description, other options spelled by `spell`, with its default. */
export function describeOption(name: OptionName, spell: (key: string) => string): string {
  const f = optionField(name);
  const text = f.description.replace(/\{(\w+)\}/g, (_, key: string) => spell(key));
  if (f.default === undefined) return text;
  return `${text}; default: ${f.fromModel ? `the model's, else ${f.default}` : f.default}`;
}
