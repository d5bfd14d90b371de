// Byte-level BPE tokenizer (GPT-2, OPT — BLIP-2's language side) loaded from a Hugging Face
// `tokenizer.json`, or from the slow tokenizer's `vocab.json` + `merges.txt`, encoding and decoding
// like transformers 4.40's fast tokenizer (Rust `tokenizers` + Python `clean_up_tokenization`).
import path from "node:path";
import { byteLevelDecode, byteLevelPreTokenize } from "./byte_level.js";
import { type BpeModel, type BpeParts, parseBpeTokenizerJson, readSlowBpeFiles, readTokenizerConfig, type TokenizerConfig } from "./bpe_files.js";
import { AddedTokenMatcher, type DecodeOptions, type Encoding } from "./tokenizer.js";
import { readTokenizerJson, TokenizerError } from "./tokenizer_json.js";
import { cleanUpTokenization } from "./wordpiece.js";

/** One token of a BPE'd word: id, string and the span of byte-level characters it covers. */
interface Piece {
  readonly id: number;
  readonly token: string;
  readonly start: number;
  readonly end: number;
}

// The Rust BPE keeps a word cache of this many entries; ours is cleared when full.
const CACHE_LIMIT = 10_000;

/** The BPE model: merges applied by rank to one pre-tokenised word, results cached per word. */
export class BpeWordModel {
  private readonly cache = new Map<string, Piece[]>();

  constructor(private readonly model: BpeModel) {}

  /**
   * Splits a word of byte-level characters into vocabulary tokens: start from single characters and
   * repeatedly merge the adjacent pair with the lowest merge rank, every occurrence left to right.
   */
  tokenize(word: string): Piece[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const id = this.model.ignoreMerges ? this.model.vocab.get(word) : undefined;
    const pieces = id !== undefined ? [{ id, token: word, start: 0, end: word.length }] : this.merge(this.symbols(word));
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, pieces);
    return pieces;
  }

  /**
   * The word's characters as vocabulary symbols before any merge, as the Rust model builds them: a
   * character missing from the vocab becomes `unk` (runs of them one `unk` with fuse_unk) or, without
   * an unk token, is dropped, so that its neighbours may merge.
   */
  private symbols(word: string): Piece[] {
    const { vocab, unkId, unkToken, fuseUnk } = this.model;
    const symbols: Piece[] = [];
    let lastWasUnknown = false;
    for (let i = 0; i < word.length; i++) {
      const c = word[i]!; // byte-level characters are single UTF-16 units
      const id = vocab.get(c);
      if (id !== undefined) symbols.push({ id, token: c, start: i, end: i + 1 });
      else if (unkId !== null && fuseUnk && lastWasUnknown) symbols[symbols.length - 1] = { ...symbols.at(-1)!, end: i + 1 };
      else if (unkId !== null) symbols.push({ id: unkId, token: unkToken!, start: i, end: i + 1 });
      lastWasUnknown = id === undefined && unkId !== null;
    }
    return symbols;
  }

  private merge(symbols: Piece[]): Piece[] {
    for (;;) {
      let best = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) best = Math.min(best, this.rank(symbols[i]!.token, symbols[i + 1]!.token));
      if (best === Infinity) return symbols;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const [a, b] = [symbols[i]!, symbols[i + 1]!];
        if (this.rank(a.token, b.token) !== best) continue;
        const token = a.token + b.token; // in the vocab: checked when the merges were loaded
        symbols.splice(i, 2, { id: this.model.vocab.get(token)!, token, start: a.start, end: b.end });
      }
    }
  }

  private rank(a: string, b: string): number {
    return this.model.ranks.get(a)?.get(b) ?? Infinity;
  }
}

/** Runs `build`, prefixing a TokenizerError's message with the file or folder it came from. */
function withFileName<T>(where: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof TokenizerError && !err.message.startsWith(where)) throw new TokenizerError(`${where}: ${err.message}`);
    throw err;
  }
}

/**
 * Byte-level BPE tokenizer built from a `tokenizer.json` (plus `tokenizer_config.json` when present).
 * `encode` equals the fast tokenizer's encoding (BOS from the post-processor template); `decode`
 * equals `decode(ids, skip_special_tokens=…)` of transformers' fast tokenizer.
 */
export class BpeTokenizer {
  /** Tokens the tokenizer knows: the model vocabulary plus added tokens (distinct strings). */
  readonly vocabSize: number;
  readonly padTokenId: number;
  /** Ids of the added tokens marked special: what `skipSpecialTokens` removes. */
  readonly specialTokenIds: readonly number[];

  private readonly words: BpeWordModel;
  private readonly idToToken = new Map<number, string>();
  private readonly specialContents = new Set<string>();
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;

  private constructor(private readonly parts: BpeParts) {
    const { model, addedTokens } = parts;
    this.words = new BpeWordModel(model);
    for (const [token, id] of model.vocab) this.idToToken.set(id, token);
    for (const token of addedTokens) {
      this.idToToken.set(token.id, token.content);
      if (token.special) this.specialContents.add(token.content);
    }
    this.specialTokenIds = addedTokens.filter((t) => t.special).map((t) => t.id);
    this.vocabSize = new Set([...model.vocab.keys(), ...addedTokens.map((t) => t.content)]).size;
    // No normalizer is accepted, so normalised text is the raw text; the two passes remain because
    // the Rust AddedVocabulary cuts out normalized=false tokens before looking for the others.
    const matcher = (normalized: boolean): AddedTokenMatcher =>
      new AddedTokenMatcher(addedTokens.filter((t) => t.normalized === normalized).map((token) => ({ pattern: token.content, token })));
    this.rawMatcher = matcher(false);
    this.normalizedMatcher = matcher(true);
    this.padTokenId = parts.padTokenId;
  }

  /** Builds the tokenizer from a parsed `tokenizer.json` and the folder's `tokenizer_config.json` (null if absent). */
  static fromJson(json: unknown, config: TokenizerConfig | null = null): BpeTokenizer {
    return new BpeTokenizer(parseBpeTokenizerJson(json, config));
  }

  /** Reads `tokenizer.json` and, next to it, `tokenizer_config.json` / `special_tokens_map.json` if present. */
  static fromFile(tokenizerJsonPath: string): BpeTokenizer {
    const json = readTokenizerJson(tokenizerJsonPath);
    return withFileName(tokenizerJsonPath, () => BpeTokenizer.fromJson(json, readTokenizerConfig(path.dirname(tokenizerJsonPath))));
  }

  /**
   * Builds the tokenizer from the slow tokenizer's files (`vocab.json`, `merges.txt`,
   * `tokenizer_config.json`, `special_tokens_map.json`) as transformers converts them to a fast one.
   */
  static fromSlowFiles(folder: string): BpeTokenizer {
    return withFileName(folder, () => new BpeTokenizer(readSlowBpeFiles(folder)));
  }

  /** Id of a token string (added tokens first, then the vocabulary), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.parts.addedTokens.find((t) => t.content === token)?.id ?? this.parts.model.vocab.get(token);
  }

  /**
   * Encodes one text like the fast tokenizer: added tokens are cut out first and never split, each
   * stretch between them is pre-tokenised (GPT-2 regex, bytes → characters) and BPE'd; the template's
   * special tokens (OPT: `</s>` before the text) are added by default. Offsets are code-point offsets
   * into `text` (not trimmed of spaces); template tokens get [0, 0].
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): Encoding {
    const chars = Array.from(text);
    const out: Encoding = { ids: [], tokens: [], offsets: [] };
    const push = (id: number, token: string, offset: [number, number]): void => {
      out.ids.push(id);
      out.tokens.push(token);
      out.offsets.push(offset);
    };
    const addSpecial = opts.addSpecialTokens ?? true;
    if (addSpecial) this.pushTemplate(push, "before");
    for (const raw of this.rawMatcher.split(chars, 0, chars.length)) {
      if (raw.token) {
        push(raw.token.id, raw.token.content, [raw.start, raw.end]);
        continue;
      }
      for (const piece of this.normalizedMatcher.split(chars, raw.start, raw.end)) {
        if (piece.token) push(piece.token.id, piece.token.content, [piece.start, piece.end]);
        else this.tokenizeText(chars, piece.start, piece.end, push);
      }
    }
    if (addSpecial) this.pushTemplate(push, "after");
    return out;
  }

  /**
   * Decodes ids like the fast tokenizer's `decode`: unknown ids are dropped, special added tokens too
   * with `skipSpecialTokens` (OPT's `<s>` is an ordinary token and stays), the ByteLevel decoder turns
   * the rest into UTF-8 (invalid bytes → U+FFFD), then `clean_up_tokenization` runs if configured.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`cannot decode id ${id}: token ids are non-negative integers`);
      const token = this.idToToken.get(id);
      if (token === undefined || (skip && this.specialContents.has(token))) continue;
      tokens.push(token);
    }
    const text = this.parts.byteLevelDecoder ? byteLevelDecode(tokens) : tokens.join(" ");
    return (opts.cleanUpTokenizationSpaces ?? this.parts.cleanUpTokenizationSpaces) ? cleanUpTokenization(text) : text;
  }

  /** `decode` for each row. */
  batchDecode(ids: readonly (readonly number[])[], opts: DecodeOptions = {}): string[] {
    return ids.map((row) => this.decode(row, opts));
  }

  private tokenizeText(chars: readonly string[], start: number, end: number, push: (id: number, token: string, offset: [number, number]) => void): void {
    const words = byteLevelPreTokenize(chars.slice(start, end), start, this.parts.preTokenizer);
    for (const word of words) {
      for (const piece of this.words.tokenize(word.chars)) {
        push(piece.id, piece.token, [word.origins[piece.start]!, word.origins[piece.end - 1]! + 1]);
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
}
