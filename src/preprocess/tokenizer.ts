// BERT WordPiece tokenizer loaded from a Hugging Face `tokenizer.json`, encoding and decoding exactly
// like `BertTokenizerFast` in transformers 4.40 (Rust `tokenizers` + Python `clean_up_tokenization`).
import {
  type AlignedText,
  alignedSlice,
  bertNormalize,
  bertPreTokenize,
  cleanUpTokenization,
  isWhitespace,
  originalSpan,
  wordPieceDecode,
  wordPieceTokenize,
} from "./wordpiece.js";
import { type AddedToken, type TokenizerParts, TokenizerError, parseTokenizerJson, readTokenizerJson } from "./tokenizer_json.js";

export { TokenizerError } from "./tokenizer_json.js";
export { cleanUpTokenization } from "./wordpiece.js";

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

/** One piece of the input: an added token found by the matcher, or text between matches. */
export type Segment = { token: AddedToken; start: number; end: number } | { token: null; start: number; end: number };

// Rust regex `\w` (Unicode) as used by the single_word check of added tokens.
const WORD_CHAR = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

/** Finds added tokens like the Rust AddedVocabulary: Aho-Corasick leftmost-longest, then the flags. */
export class AddedTokenMatcher {
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
    const json = readTokenizerJson(tokenizerJsonPath);
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
