// Parsing and validation of a Hugging Face `tokenizer.json` into the typed parts `BertTokenizer`
// uses. Only the components of BERT WordPiece tokenizers are accepted; anything else is refused
// with a TokenizerError that names the field.
import { readFileSync } from "node:fs";
import type { BertNormalizerOptions, WordPieceModel } from "./wordpiece.js";

/** A tokenizer.json that cannot be read or uses a component this tokenizer does not implement. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}

/** An added token of tokenizer.json (`added_tokens[]`), with the id it gets when loaded. */
export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly singleWord: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

/** The post-processor: what `[CLS] $A [SEP]` adds around a sequence. */
export type TemplatePart = { sequence: true } | { sequence: false; ids: number[]; tokens: string[] };

/** Every component of a tokenizer.json that BertTokenizer understands, already validated. */
export interface TokenizerParts {
  model: WordPieceModel;
  addedTokens: AddedToken[];
  normalizer: BertNormalizerOptions | null;
  preTokenize: boolean;
  template: TemplatePart[];
  decoder: { prefix: string; cleanup: boolean } | null;
  padToken: string;
}

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function objectAt(value: unknown, where: string): Json {
  if (!isObject(value)) throw new TokenizerError(`${where} must be a JSON object`);
  return value;
}

export function field<T>(obj: Json, key: string, where: string, type: "string" | "boolean" | "number", fallback?: T): T {
  const value = obj[key];
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new TokenizerError(`${where}.${key} is missing`);
  }
  if (typeof value !== type) throw new TokenizerError(`${where}.${key} must be a ${type}, got ${JSON.stringify(value)}`);
  return value as T;
}

export function tokenId(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new TokenizerError(`${where} must be a non-negative integer token id, got ${JSON.stringify(value)}`);
  }
  return value;
}

function unsupported(where: string, type: unknown, supported: string): TokenizerError {
  return new TokenizerError(`${where}.type ${JSON.stringify(type)} is not supported: only ${supported} (BERT WordPiece tokenizers, as BLIP uses)`);
}

function parseModel(value: unknown): WordPieceModel {
  const model = objectAt(value, "model");
  if (model.type !== "WordPiece") throw unsupported("model", model.type, "WordPiece");
  const vocabJson = objectAt(model.vocab, "model.vocab");
  const vocab = new Map<string, number>();
  let longestTokenChars = 0;
  for (const [token, id] of Object.entries(vocabJson)) {
    vocab.set(token, tokenId(id, `model.vocab[${JSON.stringify(token)}]`));
    longestTokenChars = Math.max(longestTokenChars, Array.from(token).length);
  }
  const unkToken = field<string>(model, "unk_token", "model", "string", "[UNK]");
  const unkId = vocab.get(unkToken);
  if (unkId === undefined) throw new TokenizerError(`model.unk_token ${JSON.stringify(unkToken)} is not in model.vocab`);
  const maxInputCharsPerWord = field<number>(model, "max_input_chars_per_word", "model", "number", 100);
  return {
    vocab,
    unkToken,
    unkId,
    continuingSubwordPrefix: field<string>(model, "continuing_subword_prefix", "model", "string", "##"),
    maxInputCharsPerWord,
    longestTokenChars,
  };
}

/** Ids of added tokens as the Rust loader assigns them: the vocab's id if present, else the next free one. */
export function parseAddedTokens(value: unknown, model: { readonly vocab: ReadonlyMap<string, number> }): AddedToken[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TokenizerError("added_tokens must be a JSON array");
  const tokens: AddedToken[] = [];
  const byContent = new Map<string, AddedToken>();
  for (const [i, entry] of value.entries()) {
    const where = `added_tokens[${i}]`;
    const obj = objectAt(entry, where);
    const content = field<string>(obj, "content", where, "string");
    if (content === "") continue;
    const special = field<boolean>(obj, "special", where, "boolean", false);
    const fileId = tokenId(obj.id, `${where}.id`);
    const maxAdded = Math.max(-1, ...tokens.map((t) => t.id));
    const size = model.vocab.size;
    const id = byContent.get(content)?.id ?? model.vocab.get(content) ?? (maxAdded >= size || size === 0 ? maxAdded + 1 : size);
    if (id !== fileId) {
      throw new TokenizerError(`${where} (${JSON.stringify(content)}) has id ${fileId}, but Hugging Face tokenizers would load it as id ${id} (its vocab id, or the next free id): fix the id or re-save the tokenizer with save_pretrained()`);
    }
    const token: AddedToken = {
      id,
      content,
      special,
      singleWord: field<boolean>(obj, "single_word", where, "boolean", false),
      lstrip: field<boolean>(obj, "lstrip", where, "boolean", false),
      rstrip: field<boolean>(obj, "rstrip", where, "boolean", false),
      normalized: field<boolean>(obj, "normalized", where, "boolean", !special),
    };
    const index = tokens.findIndex((t) => t.content === content);
    if (index >= 0) tokens[index] = token;
    else tokens.push(token);
    byContent.set(content, token);
  }
  return tokens;
}

function parseNormalizer(value: unknown): BertNormalizerOptions | null {
  if (value === undefined || value === null) return null;
  const normalizer = objectAt(value, "normalizer");
  if (normalizer.type !== "BertNormalizer") throw unsupported("normalizer", normalizer.type, "BertNormalizer or null");
  const lowercase = field<boolean>(normalizer, "lowercase", "normalizer", "boolean", true);
  return {
    cleanText: field<boolean>(normalizer, "clean_text", "normalizer", "boolean", true),
    handleChineseChars: field<boolean>(normalizer, "handle_chinese_chars", "normalizer", "boolean", true),
    // strip_accents: null means "do whatever lowercase does", as in the Rust and the slow tokenizer.
    stripAccents: field<boolean>(normalizer, "strip_accents", "normalizer", "boolean", lowercase),
    lowercase,
  };
}

function parsePreTokenizer(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  const preTokenizer = objectAt(value, "pre_tokenizer");
  if (preTokenizer.type !== "BertPreTokenizer") throw unsupported("pre_tokenizer", preTokenizer.type, "BertPreTokenizer or null");
  return true;
}

function specialPart(id: unknown, where: string, specials: Json): TemplatePart {
  const entry = objectAt(specials[String(id)], `post_processor.special_tokens[${JSON.stringify(id)}] (used by ${where})`);
  const ids = entry.ids;
  const tokens = entry.tokens;
  if (!Array.isArray(ids) || !Array.isArray(tokens) || ids.length !== tokens.length || tokens.some((t) => typeof t !== "string")) {
    throw new TokenizerError(`post_processor.special_tokens[${JSON.stringify(id)}] needs "ids" and "tokens" arrays of the same length`);
  }
  return { sequence: false, ids: ids.map((x, k) => tokenId(x, `post_processor.special_tokens[${JSON.stringify(id)}].ids[${k}]`)), tokens: tokens as string[] };
}

export function parsePostProcessor(value: unknown): TemplatePart[] {
  if (value === undefined || value === null) return [{ sequence: true }];
  const processor = objectAt(value, "post_processor");
  if (processor.type === "BertProcessing") {
    const pair = (key: string): TemplatePart => {
      const v = processor[key];
      if (!Array.isArray(v) || typeof v[0] !== "string") throw new TokenizerError(`post_processor.${key} must be [token, id]`);
      return { sequence: false, ids: [tokenId(v[1], `post_processor.${key}[1]`)], tokens: [v[0]] };
    };
    return [pair("cls"), { sequence: true }, pair("sep")];
  }
  if (processor.type !== "TemplateProcessing") throw unsupported("post_processor", processor.type, "TemplateProcessing, BertProcessing or null");
  const single = processor.single;
  if (!Array.isArray(single)) throw new TokenizerError("post_processor.single must be a JSON array");
  const specials = objectAt(processor.special_tokens ?? {}, "post_processor.special_tokens");
  const parts = single.map((item, i): TemplatePart => {
    const where = `post_processor.single[${i}]`;
    const obj = objectAt(item, where);
    if (isObject(obj.SpecialToken)) return specialPart(obj.SpecialToken.id, where, specials);
    if (isObject(obj.Sequence) && obj.Sequence.id === "A") return { sequence: true };
    throw new TokenizerError(`${where} must be {"SpecialToken": …} or {"Sequence": {"id": "A"}}`);
  });
  if (parts.filter((p) => p.sequence).length !== 1) throw new TokenizerError("post_processor.single must contain the sequence $A exactly once");
  return parts;
}

function parseDecoder(value: unknown): { prefix: string; cleanup: boolean } | null {
  if (value === undefined || value === null) return null;
  const decoder = objectAt(value, "decoder");
  if (decoder.type !== "WordPiece") throw unsupported("decoder", decoder.type, "WordPiece or null");
  return {
    prefix: field<string>(decoder, "prefix", "decoder", "string", "##"),
    cleanup: field<boolean>(decoder, "cleanup", "decoder", "boolean", true),
  };
}

/** Validates a parsed tokenizer.json and returns its parts; throws TokenizerError naming the bad field. */
export function parseTokenizerJson(json: unknown): TokenizerParts {
  const root = objectAt(json, "tokenizer.json");
  if (root.version !== undefined && root.version !== "1.0") {
    throw new TokenizerError(`unknown tokenizer.json version ${JSON.stringify(root.version)} (expected "1.0")`);
  }
  const model = parseModel(root.model);
  // `truncation`/`padding` are ignored on purpose: transformers resets both on every call, and
  // `encodeBatch` always pads like `padding=True`. Only the pad token is taken from `padding`.
  const padding = isObject(root.padding) ? root.padding : {};
  return {
    model,
    addedTokens: parseAddedTokens(root.added_tokens, model),
    normalizer: parseNormalizer(root.normalizer),
    preTokenize: parsePreTokenizer(root.pre_tokenizer),
    template: parsePostProcessor(root.post_processor),
    decoder: parseDecoder(root.decoder),
    padToken: field<string>(padding, "pad_token", "padding", "string", "[PAD]"),
  };
}

/** The parsed JSON of a tokenizer file; unreadable or invalid files are a TokenizerError naming the file. */
export function readTokenizerJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TokenizerError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TokenizerError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}
