// BERT WordPiece tokenizer loaded from a Hugging Face `tokenizer.json`, encoding and decoding exactly
// like `BertTokenizerFast` in transformers 4.40 (Rust `tokenizers` + Python `clean_up_tokenization`).
import { readFileSync } from "node:fs";
import {
  type AlignedText,
  type BertNormalizerOptions,
  type WordPieceModel,
  alignedSlice,
  bertNormalize,
  bertPreTokenize,
  isWhitespace,
  originalSpan,
  wordPieceDecode,
  wordPieceTokenize,
} from "./wordpiece.js";

/** A tokenizer.json that cannot be read or uses a component this tokenizer does not implement. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}

/** Result of encoding one text: ids, token strings and code-point offsets into the text. */
export interface Encoding {
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
}

/** Options of `decode`/`batchDecode`, defaults as in transformers: keep specials, clean up spaces. */
export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  cleanUpTokenizationSpaces?: boolean;
}

interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly singleWord: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

/** One piece of the input: an added token found by the matcher, or text between matches. */
type Segment = { token: AddedToken; start: number; end: number } | { token: null; start: number; end: number };

// Rust regex `\w` (Unicode) as used by the single_word check of added tokens.
const WORD_CHAR = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

/** Finds added tokens like the Rust AddedVocabulary: Aho-Corasick leftmost-longest, then the flags. */
class AddedTokenMatcher {
  private readonly byFirstChar = new Map<string, Array<{ pattern: string[]; token: AddedToken }>>();

  constructor(entries: Array<{ pattern: string; token: AddedToken }>) {
    for (const { pattern, token } of entries) {
      const chars = Array.from(pattern);
      if (chars.length === 0) continue;
      const list = this.byFirstChar.get(chars[0]!) ?? [];
      list.push({ pattern: chars, token });
      this.byFirstChar.set(chars[0]!, list);
    }
    for (const list of this.byFirstChar.values()) list.sort((a, b) => b.pattern.length - a.pattern.length);
  }

  /** Splits `chars[from, to)` into added-token matches and the text between them (`find_matches`). */
  split(chars: readonly string[], from: number, to: number): Segment[] {
    const segments: Segment[] = [];
    let consumed = from;
    let i = from;
    while (i < to) {
      const match = this.longestAt(chars, i, to);
      if (!match) {
        i++;
        continue;
      }
      let start = i;
      let stop = i + match.pattern.length;
      i = stop; // the search resumes after the raw match, whatever the flags below decide
      const token = match.token;
      if (token.singleWord) {
        const wordBefore = start > from && WORD_CHAR.test(chars[start - 1]!);
        const wordAfter = stop < to && WORD_CHAR.test(chars[stop]!);
        if (wordBefore || wordAfter) continue;
      }
      if (token.lstrip) {
        let newStart = start;
        while (newStart > from && isWhitespace(chars[newStart - 1]!)) newStart--;
        start = Math.max(newStart, consumed);
      }
      if (token.rstrip) {
        while (stop < to && isWhitespace(chars[stop]!)) stop++;
      }
      if (consumed < start) segments.push({ token: null, start: consumed, end: start });
      segments.push({ token, start, end: stop });
      consumed = stop;
    }
    if (consumed < to) segments.push({ token: null, start: consumed, end: to });
    return segments;
  }

  private longestAt(chars: readonly string[], at: number, to: number): { pattern: string[]; token: AddedToken } | undefined {
    const candidates = this.byFirstChar.get(chars[at]!);
    if (!candidates) return undefined;
    return candidates.find(({ pattern }) => at + pattern.length <= to && pattern.every((c, k) => chars[at + k] === c));
  }
}

/** The post-processor: what `[CLS] $A [SEP]` adds around a sequence. */
type TemplatePart = { sequence: true } | { sequence: false; ids: number[]; tokens: string[] };

/** Every component of a tokenizer.json this class understands, already validated. */
interface TokenizerParts {
  model: WordPieceModel;
  addedTokens: AddedToken[];
  normalizer: BertNormalizerOptions | null;
  preTokenize: boolean;
  template: TemplatePart[];
  decoder: { prefix: string; cleanup: boolean } | null;
  padToken: string;
}

/**
 * BERT WordPiece tokenizer (BLIP's text side) built from a `tokenizer.json`.
 * `encode` equals the fast tokenizer's encoding; `decode` equals `BertTokenizerFast.decode`.
 */
export class BertTokenizer {
  /** Tokens the tokenizer knows: the model vocabulary plus added tokens (distinct strings). */
  readonly vocabSize: number;
  readonly clsTokenId: number;
  readonly sepTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;

  private readonly idToAdded = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly vocabById = new Map<number, string>();
  private readonly specialContents = new Set<string>();
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;

  private constructor(private readonly parts: TokenizerParts) {
    const { model } = parts;
    for (const [token, id] of model.vocab) this.vocabById.set(id, token);
    for (const token of parts.addedTokens) {
      this.idToAdded.set(token.id, token);
      this.addedByContent.set(token.content, token);
      if (token.special) this.specialContents.add(token.content);
    }
    this.vocabSize = new Set([...model.vocab.keys(), ...this.addedByContent.keys()]).size;
    // Tokens with normalized=false match the raw text; the others match the normalised text, so
    // their pattern is normalised too (as the Rust AddedVocabulary does).
    this.rawMatcher = new AddedTokenMatcher(
      parts.addedTokens.filter((t) => !t.normalized).map((token) => ({ pattern: token.content, token })),
    );
    this.normalizedMatcher = new AddedTokenMatcher(
      parts.addedTokens.filter((t) => t.normalized).map((token) => ({ pattern: this.normalize(token.content).chars.join(""), token })),
    );
    this.unkTokenId = model.unkId;
    this.clsTokenId = this.requireId("[CLS]", "the [CLS] token");
    this.sepTokenId = this.requireId("[SEP]", "the [SEP] token");
    this.padTokenId = this.requireId(parts.padToken, "the padding token");
  }

  /** Reads and parses `tokenizer.json`; throws TokenizerError naming the file and what is wrong. */
  static fromFile(tokenizerJsonPath: string): BertTokenizer {
    let text: string;
    try {
      text = readFileSync(tokenizerJsonPath, "utf8");
    } catch (err) {
      throw new TokenizerError(`cannot read ${tokenizerJsonPath}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new TokenizerError(`${tokenizerJsonPath} is not valid JSON: ${(err as Error).message}`);
    }
    try {
      return BertTokenizer.fromJson(json);
    } catch (err) {
      if (err instanceof TokenizerError) throw new TokenizerError(`${tokenizerJsonPath}: ${err.message}`);
      throw err;
    }
  }

  /** Builds the tokenizer from the parsed content of a `tokenizer.json`. */
  static fromJson(json: unknown): BertTokenizer {
    return new BertTokenizer(parseTokenizerJson(json));
  }

  /** Id of a token string (added tokens first, then the vocabulary), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.parts.model.vocab.get(token);
  }

  /** Token string of an id (added tokens first, then the vocabulary), or undefined. */
  idToToken(id: number): string | undefined {
    return this.idToAdded.get(id)?.content ?? this.vocabById.get(id);
  }

  /**
   * Encodes one text like the fast tokenizer: added tokens are cut out of the raw text first and never
   * split; the rest is normalised, pre-tokenised and WordPiece'd; `[CLS] … [SEP]` added by default.
   * Offsets are code-point offsets into `text`; special tokens from the template get [0, 0].
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): Encoding {
    const original = Array.from(text);
    const out: Encoding = { ids: [], tokens: [], offsets: [] };
    const push = (id: number, token: string, offset: [number, number]): void => {
      out.ids.push(id);
      out.tokens.push(token);
      out.offsets.push(offset);
    };
    if (opts.addSpecialTokens ?? true) this.pushTemplate(push, "before");
    for (const raw of this.rawMatcher.split(original, 0, original.length)) {
      if (raw.token) {
        push(raw.token.id, original.slice(raw.start, raw.end).join(""), [raw.start, raw.end]);
        continue;
      }
      const normalized = this.normalize(original, raw.start, raw.end);
      for (const piece of this.normalizedMatcher.split(normalized.chars, 0, normalized.chars.length)) {
        if (piece.token) {
          push(piece.token.id, normalized.chars.slice(piece.start, piece.end).join(""), originalSpan(normalized, piece.start, piece.end));
        } else {
          this.tokenizeText(normalized, piece.start, piece.end, push);
        }
      }
    }
    if (opts.addSpecialTokens ?? true) this.pushTemplate(push, "after");
    return out;
  }

  /** Encodes several texts and right-pads them with the pad token, like `processor(text=[...], padding=True)`. */
  encodeBatch(texts: string[], opts: { addSpecialTokens?: boolean } = {}): { inputIds: number[][]; attentionMask: number[][] } {
    const encoded = texts.map((text) => this.encode(text, opts).ids);
    const width = Math.max(0, ...encoded.map((ids) => ids.length));
    return {
      inputIds: encoded.map((ids) => [...ids, ...new Array<number>(width - ids.length).fill(this.padTokenId)]),
      attentionMask: encoded.map((ids) => [...new Array<number>(ids.length).fill(1), ...new Array<number>(width - ids.length).fill(0)]),
    };
  }

  /**
   * Decodes ids like `BertTokenizerFast.decode`: ids the tokenizer does not know are dropped (BLIP's
   * `[DEC]` is not in the real vocab), special added tokens are dropped with `skipSpecialTokens`, the
   * WordPiece decoder joins the tokens, then transformers' `clean_up_tokenization` runs.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`cannot decode id ${id}: token ids are non-negative integers`);
      const token = this.idToToken(id);
      if (token === undefined || (skip && this.specialContents.has(token))) continue;
      tokens.push(token);
    }
    const { decoder } = this.parts;
    const text = decoder ? wordPieceDecode(tokens, decoder.prefix, decoder.cleanup) : tokens.join(" ");
    return (opts.cleanUpTokenizationSpaces ?? true) ? cleanUpTokenization(text) : text;
  }

  /** `decode` for each row. */
  batchDecode(ids: readonly (readonly number[])[], opts: DecodeOptions = {}): string[] {
    return ids.map((row) => this.decode(row, opts));
  }

  private normalize(text: string | readonly string[], start = 0, end?: number): AlignedText {
    const chars = typeof text === "string" ? Array.from(text) : text;
    const aligned = alignedSlice(chars, start, end ?? chars.length);
    return this.parts.normalizer ? bertNormalize(aligned, this.parts.normalizer) : aligned;
  }

  private tokenizeText(text: AlignedText, start: number, end: number, push: (id: number, token: string, offset: [number, number]) => void): void {
    const words: Array<[number, number]> = this.parts.preTokenize ? bertPreTokenize(text.chars, start, end) : [[start, end]];
    for (const [wordStart, wordEnd] of words) {
      if (wordEnd <= wordStart) continue;
      for (const piece of wordPieceTokenize(this.parts.model, text.chars, wordStart, wordEnd)) {
        push(piece.id, piece.value, originalSpan(text, wordStart + piece.start, wordStart + piece.end));
      }
    }
  }

  private pushTemplate(push: (id: number, token: string, offset: [number, number]) => void, side: "before" | "after"): void {
    const at = this.parts.template.findIndex((part) => part.sequence);
    const parts = side === "before" ? this.parts.template.slice(0, at) : this.parts.template.slice(at + 1);
    for (const part of parts) {
      if (part.sequence) continue;
      part.ids.forEach((id, k) => push(id, part.tokens[k]!, [0, 0]));
    }
  }

  private requireId(token: string, what: string): number {
    const id = this.tokenToId(token);
    if (id === undefined) throw new TokenizerError(`${what} "${token}" is neither in model.vocab nor in added_tokens`);
    return id;
  }
}

/**
 * transformers' `PreTrainedTokenizerBase.clean_up_tokenization` (4.40): removes the spaces that
 * joining tokens left before punctuation and English contractions.
 * Example: "there ' s a dog ." → "there's a dog.".
 */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json parsing

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objectAt(value: unknown, where: string): Json {
  if (!isObject(value)) throw new TokenizerError(`${where} must be a JSON object`);
  return value;
}

function field<T>(obj: Json, key: string, where: string, type: "string" | "boolean" | "number", fallback?: T): T {
  const value = obj[key];
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new TokenizerError(`${where}.${key} is missing`);
  }
  if (typeof value !== type) throw new TokenizerError(`${where}.${key} must be a ${type}, got ${JSON.stringify(value)}`);
  return value as T;
}

function tokenId(value: unknown, where: string): number {
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
function parseAddedTokens(value: unknown, model: WordPieceModel): AddedToken[] {
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
      throw new TokenizerError(`${where} (${JSON.stringify(content)}) has id ${fileId}, but it gets id ${id} when loaded (vocab or next free id): the file is inconsistent`);
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

function parsePostProcessor(value: unknown): TemplatePart[] {
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

function parseTokenizerJson(json: unknown): TokenizerParts {
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
