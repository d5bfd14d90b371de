// The files of a byte-level BPE tokenizer, parsed and validated into the typed parts `BpeTokenizer`
// uses: `tokenizer.json` (the fast tokenizer), or `vocab.json` + `merges.txt` (the slow one, turned into
// what transformers' GPT2Converter would build), plus `tokenizer_config.json` / `special_tokens_map.json`.
// Components this tokenizer does not implement are refused with a TokenizerError naming the field.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  type AddedToken,
  field,
  isObject,
  type Json,
  objectAt,
  parseAddedTokens,
  parsePostProcessor,
  readTokenizerJson,
  type TemplatePart,
  tokenId,
  TokenizerError,
} from "./tokenizer_json.js";

/** The BPE model: vocabulary, merge ranks (`ranks.get(a).get(b)`, lower merges first), unknown token. */
export interface BpeModel {
  readonly vocab: ReadonlyMap<string, number>;
  readonly ranks: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly unkToken: string | null;
  readonly unkId: number | null;
  readonly fuseUnk: boolean;
  /** A word that is itself in the vocabulary is one token, merges or not (Llama-3-style files). */
  readonly ignoreMerges: boolean;
}

/** Everything `BpeTokenizer` needs, already validated. */
export interface BpeParts {
  readonly model: BpeModel;
  readonly addedTokens: readonly AddedToken[];
  readonly preTokenizer: { readonly addPrefixSpace: boolean; readonly useRegex: boolean };
  readonly template: readonly TemplatePart[];
  readonly byteLevelDecoder: boolean;
  readonly cleanUpTokenizationSpaces: boolean;
  readonly padTokenId: number;
}

/** The settings of `tokenizer_config.json` (+ `special_tokens_map.json`) that change encoding or decoding. */
export interface TokenizerConfig {
  readonly cleanUpTokenizationSpaces?: boolean;
  readonly addPrefixSpace?: boolean;
  readonly addBosToken?: boolean;
  /** `bos_token`, `eos_token`, … → content; `additional_special_tokens` as a list. */
  readonly specialTokens: ReadonlyMap<string, string>;
  readonly additionalSpecialTokens: readonly string[];
  /** `added_tokens_decoder` (id → token), what the slow tokenizer adds to `vocab.json`. */
  readonly addedTokensDecoder: readonly AddedToken[];
}

const SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] as const;

function unsupported(where: string, value: unknown, supported: string): TokenizerError {
  return new TokenizerError(`${where} ${JSON.stringify(value)} is not supported: only ${supported} (byte-level BPE tokenizers, as GPT-2 and OPT use)`);
}

/** A special token of a config file: a string or an AddedToken object `{content, …}`. */
function tokenContent(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (isObject(value) && typeof value.content === "string") return value.content;
  throw new TokenizerError(`${where} must be a string or {"content": …}, got ${JSON.stringify(value)}`);
}

function readJsonIfPresent(file: string): Json | null {
  if (!existsSync(file)) return null;
  return objectAt(readTokenizerJson(file), path.basename(file));
}

/** Reads `tokenizer_config.json` and `special_tokens_map.json` of a folder (the latter wins, as in transformers); null if neither exists. */
export function readTokenizerConfig(folder: string): TokenizerConfig | null {
  const config = readJsonIfPresent(path.join(folder, "tokenizer_config.json"));
  const map = readJsonIfPresent(path.join(folder, "special_tokens_map.json"));
  if (!config && !map) return null;
  const where = "tokenizer_config.json";
  const c = config ?? {};
  const optional = (key: string): boolean | undefined => (c[key] === undefined || c[key] === null ? undefined : field<boolean>(c, key, where, "boolean"));
  const specialTokens = new Map<string, string>();
  let additional: string[] = [];
  for (const [file, obj] of [[where, c], ["special_tokens_map.json", map ?? {}]] as const) {
    for (const key of SPECIAL_TOKEN_KEYS) {
      const content = tokenContent(obj[key], `${file}: ${key}`);
      if (content !== undefined) specialTokens.set(key, content);
    }
    const extra = obj.additional_special_tokens;
    if (Array.isArray(extra)) additional = extra.map((t, i) => tokenContent(t, `${file}: additional_special_tokens[${i}]`)!);
  }
  return {
    cleanUpTokenizationSpaces: optional("clean_up_tokenization_spaces"),
    // GPT2TokenizerFast's own default (transformers 4.40): a tokenizer_config.json without the key
    // still rebuilds tokenizer.json's pre-tokenizer with add_prefix_space false.
    addPrefixSpace: config ? (optional("add_prefix_space") ?? false) : undefined,
    addBosToken: optional("add_bos_token"),
    specialTokens,
    additionalSpecialTokens: additional,
    addedTokensDecoder: parseAddedTokensDecoder(c.added_tokens_decoder),
  };
}

function parseAddedTokensDecoder(value: unknown): AddedToken[] {
  if (value === undefined || value === null) return [];
  const entries = Object.entries(objectAt(value, "tokenizer_config.json: added_tokens_decoder"));
  return entries.map(([key, entry]) => {
    const where = `tokenizer_config.json: added_tokens_decoder[${JSON.stringify(key)}]`;
    const obj = objectAt(entry, where);
    const special = field<boolean>(obj, "special", where, "boolean", false);
    return {
      id: tokenId(Number(key), `${where} key`),
      content: field<string>(obj, "content", where, "string"),
      special,
      singleWord: field<boolean>(obj, "single_word", where, "boolean", false),
      lstrip: field<boolean>(obj, "lstrip", where, "boolean", false),
      rstrip: field<boolean>(obj, "rstrip", where, "boolean", false),
      normalized: field<boolean>(obj, "normalized", where, "boolean", !special),
    };
  });
}

/** Merge ranks from `["a b", …]` or `[["a", "b"], …]` (both appear in tokenizer.json versions); every token must be in the vocab. */
export function mergeRanks(merges: readonly unknown[], vocab: ReadonlyMap<string, number>, where: string): Map<string, Map<string, number>> {
  const ranks = new Map<string, Map<string, number>>();
  merges.forEach((merge, rank) => {
    const pair = typeof merge === "string" ? merge.split(" ") : merge;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((t) => typeof t !== "string")) {
      throw new TokenizerError(`${where}[${rank}] must be "a b" (one space) or ["a", "b"], got ${JSON.stringify(merge)}`);
    }
    const [a, b] = pair as [string, string];
    for (const token of [a, b, a + b]) {
      if (!vocab.has(token)) throw new TokenizerError(`${where}[${rank}] (${JSON.stringify(merge)}): ${JSON.stringify(token)} is not in the vocabulary`);
    }
    const row = ranks.get(a) ?? new Map<string, number>();
    row.set(b, rank); // a repeated merge keeps its last rank, as in the Rust and Python loaders
    ranks.set(a, row);
  });
  return ranks;
}

function parseVocab(value: unknown, where: string): Map<string, number> {
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(objectAt(value, where))) vocab.set(token, tokenId(id, `${where}[${JSON.stringify(token)}]`));
  return vocab;
}

function parseModel(value: unknown): BpeModel {
  const model = objectAt(value, "model");
  if (model.type !== "BPE") throw unsupported("model.type", model.type, "BPE");
  if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0) {
    throw new TokenizerError(`model.dropout ${JSON.stringify(model.dropout)} makes encodings random: set it to null`);
  }
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    if (model[key] !== undefined && model[key] !== null && model[key] !== "") throw unsupported(`model.${key}`, model[key], '"" or null');
  }
  if (field<boolean>(model, "byte_fallback", "model", "boolean", false)) throw unsupported("model.byte_fallback", true, "false");
  const vocab = parseVocab(model.vocab, "model.vocab");
  if (!Array.isArray(model.merges)) throw new TokenizerError("model.merges must be a JSON array");
  const unkToken = model.unk_token === undefined || model.unk_token === null ? null : field<string>(model, "unk_token", "model", "string");
  const unkId = unkToken === null ? null : vocab.get(unkToken);
  if (unkId === undefined) throw new TokenizerError(`model.unk_token ${JSON.stringify(unkToken)} is not in model.vocab`);
  return {
    vocab,
    ranks: mergeRanks(model.merges, vocab, "model.merges"),
    unkToken,
    unkId,
    fuseUnk: field<boolean>(model, "fuse_unk", "model", "boolean", false),
    ignoreMerges: field<boolean>(model, "ignore_merges", "model", "boolean", false),
  };
}

function parsePreTokenizer(value: unknown, config: TokenizerConfig | null): BpeParts["preTokenizer"] {
  const pre = objectAt(value, "pre_tokenizer");
  if (pre.type !== "ByteLevel") throw unsupported("pre_tokenizer.type", pre.type, "ByteLevel");
  return {
    // GPT2TokenizerFast rebuilds the pre-tokenizer when tokenizer_config.json's add_prefix_space differs.
    addPrefixSpace: config?.addPrefixSpace ?? field<boolean>(pre, "add_prefix_space", "pre_tokenizer", "boolean", true),
    useRegex: field<boolean>(pre, "use_regex", "pre_tokenizer", "boolean", true),
  };
}

function parseTemplate(value: unknown): TemplatePart[] {
  // A ByteLevel post-processor only trims offsets (not done here); it adds no tokens.
  if (value === undefined || value === null || (isObject(value) && value.type === "ByteLevel")) return [{ sequence: true }];
  if (isObject(value) && value.type !== "TemplateProcessing") throw unsupported("post_processor.type", value.type, "TemplateProcessing, ByteLevel or null");
  return parsePostProcessor(value);
}

function parseDecoder(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  const decoder = objectAt(value, "decoder");
  if (decoder.type !== "ByteLevel") throw unsupported("decoder.type", decoder.type, "ByteLevel or null");
  return true;
}

/**
 * What transformers' fast tokenizer adds at load time: entries of the config's `added_tokens_decoder`
 * and named special tokens that are not added tokens yet (vocab id if present, else the next free id).
 */
function withConfigTokens(added: readonly AddedToken[], vocab: ReadonlyMap<string, number>, config: TokenizerConfig | null): AddedToken[] {
  const tokens = [...added];
  const add = (token: Omit<AddedToken, "id">): void => {
    if (token.content === "" || tokens.some((t) => t.content === token.content)) return;
    const maxAdded = Math.max(-1, ...tokens.map((t) => t.id));
    tokens.push({ ...token, id: vocab.get(token.content) ?? (maxAdded >= vocab.size ? maxAdded + 1 : vocab.size) });
  };
  for (const token of config?.addedTokensDecoder ?? []) add(token);
  const named = [...(config?.specialTokens.values() ?? []), ...(config?.additionalSpecialTokens ?? [])];
  for (const content of named) add({ content, special: true, singleWord: false, lstrip: false, rstrip: false, normalized: false });
  return tokens;
}

function padTokenId(padToken: string | undefined, added: readonly AddedToken[], vocab: ReadonlyMap<string, number>): number {
  if (padToken === undefined) throw new TokenizerError("no padding token: set pad_token in tokenizer_config.json (or padding.pad_token in tokenizer.json)");
  const id = added.find((t) => t.content === padToken)?.id ?? vocab.get(padToken);
  if (id === undefined) throw new TokenizerError(`the padding token ${JSON.stringify(padToken)} is neither in the vocabulary nor an added token`);
  return id;
}

/** Validates a parsed tokenizer.json (plus the folder's config, if any) and returns its parts. */
export function parseBpeTokenizerJson(json: unknown, config: TokenizerConfig | null): BpeParts {
  const root = objectAt(json, "tokenizer.json");
  if (root.version !== undefined && root.version !== "1.0") throw new TokenizerError(`unknown tokenizer.json version ${JSON.stringify(root.version)} (expected "1.0")`);
  if (root.normalizer !== undefined && root.normalizer !== null) throw unsupported("normalizer", objectAt(root.normalizer, "normalizer").type, "null");
  const model = parseModel(root.model);
  const addedTokens = withConfigTokens(parseAddedTokens(root.added_tokens, model), model.vocab, config);
  const padding = isObject(root.padding) ? root.padding : {};
  const padToken = config?.specialTokens.get("pad_token") ?? (typeof padding.pad_token === "string" ? padding.pad_token : undefined);
  return {
    model,
    addedTokens,
    preTokenizer: parsePreTokenizer(root.pre_tokenizer, config),
    template: parseTemplate(root.post_processor),
    byteLevelDecoder: parseDecoder(root.decoder),
    cleanUpTokenizationSpaces: config?.cleanUpTokenizationSpaces ?? true, // transformers 4.40's default
    padTokenId: padTokenId(padToken, addedTokens, model.vocab),
  };
}

/** `merges.txt`: one "a b" per line after the `#version` header; blank lines ignored. */
function readMergesTxt(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line) => line.replace(/\r$/, ""))
    .filter((line) => line !== "" && !line.startsWith("#version"));
}

/**
 * The slow GPT-2 tokenizer's files as transformers' GPT2Converter turns them into a fast tokenizer:
 * ByteLevel(add_prefix_space from the config, default false), BPE without unk, ByteLevel decoder,
 * `bos $A` when add_bos_token, added tokens from `added_tokens_decoder` plus the named special tokens.
 */
export function readSlowBpeFiles(folder: string): BpeParts {
  const config = readTokenizerConfig(folder);
  const inFolder = (name: string): string => path.join(folder, name);
  const vocab = parseVocab(readTokenizerJson(inFolder("vocab.json")), "vocab.json");
  let merges: string[];
  try {
    merges = readMergesTxt(inFolder("merges.txt"));
  } catch (err) {
    throw new TokenizerError(`cannot read ${inFolder("merges.txt")}: ${(err as Error).message}`);
  }
  const model: BpeModel = { vocab, ranks: mergeRanks(merges, vocab, "merges.txt"), unkToken: null, unkId: null, fuseUnk: false, ignoreMerges: false };
  const addedTokens = withConfigTokens(config?.addedTokensDecoder ?? [], vocab, config);
  const idOf = (content: string): number | undefined => addedTokens.find((t) => t.content === content)?.id ?? vocab.get(content);
  let template: TemplatePart[] = [{ sequence: true }];
  if (config?.addBosToken) {
    const bos = config.specialTokens.get("bos_token");
    const bosId = bos === undefined ? undefined : idOf(bos);
    if (bos === undefined || bosId === undefined) throw new TokenizerError("tokenizer_config.json: add_bos_token is true but bos_token is missing or unknown");
    template = [{ sequence: false, ids: [bosId], tokens: [bos] }, { sequence: true }];
  }
  return {
    model,
    addedTokens,
    preTokenizer: { addPrefixSpace: config?.addPrefixSpace ?? false, useRegex: true },
    template,
    byteLevelDecoder: true,
    cleanUpTokenizationSpaces: config?.cleanUpTokenizationSpaces ?? true,
    padTokenId: padTokenId(config?.specialTokens.get("pad_token"), addedTokens, vocab),
  };
}
