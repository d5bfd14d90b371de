// The pieces of a BERT WordPiece tokenizer, with the semantics of Hugging Face's Rust `tokenizers`
// (BertNormalizer, BertPreTokenizer, WordPiece model, WordPiece decoder). Pure functions over code
// points; `tokenizer.ts` wires them together from a tokenizer.json.
//
// Offsets are code-point (Unicode scalar) offsets into the original string, like the `offsets` the
// Python and Node bindings of `tokenizers` return (they encode with char offsets, not UTF-16 units).

/** Text after normalisation: each code point remembers the original code-point span it came from. */
export interface AlignedText {
  readonly chars: string[];
  /** `starts[i]`/`ends[i]`: the span of the original string that produced `chars[i]`. */
  readonly starts: number[];
  readonly ends: number[];
}

/** Wraps `original[start, end)` (code points) as unnormalised aligned text. */
export function alignedSlice(original: readonly string[], start: number, end: number): AlignedText {
  const chars: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = start; i < end; i++) {
    chars.push(original[i]!);
    starts.push(i);
    ends.push(i + 1);
  }
  return { chars, starts, ends };
}

/** Original span covered by the normalised code points `[start, end)` (end > start). */
export function originalSpan(text: AlignedText, start: number, end: number): [number, number] {
  return [text.starts[start]!, text.ends[end - 1]!];
}

// Unicode classes exactly as the Rust code defines them: `char::is_whitespace` is the White_Space
// property; `unicode_categories`' is_other = C*, is_punctuation = P*, is_mark_nonspacing = Mn.
const WHITE_SPACE = /^\p{White_Space}$/u;
const OTHER = /^\p{C}$/u;
const PUNCTUATION = /^\p{P}$/u;
const NONSPACING_MARK = /^\p{Mn}$/u;

/** Rust `char::is_whitespace` (the Unicode White_Space property). */
export function isWhitespace(c: string): boolean {
  return WHITE_SPACE.test(c);
}

/** BERT's punctuation: every ASCII symbol (`!`..`/`, `:`..`@`, `[`..`` ` ``, `{`..`~`) plus Unicode P*. */
export function isBertPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  const asciiSymbol = (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return asciiSymbol || PUNCTUATION.test(c);
}

/** CJK ideograph blocks that BERT surrounds with spaces (not Hangul, kana: those use spaces already). */
function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Settings of a `BertNormalizer` (strip_accents already resolved: null means "same as lowercase"). */
export interface BertNormalizerOptions {
  readonly cleanText: boolean;
  readonly handleChineseChars: boolean;
  readonly stripAccents: boolean;
  readonly lowercase: boolean;
}

/** Builds a new aligned text where each input code point maps to zero or more output code points. */
function remap(text: AlignedText, map: (c: string) => Iterable<string>): AlignedText {
  const chars: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  text.chars.forEach((c, i) => {
    for (const out of map(c)) {
      chars.push(out);
      starts.push(text.starts[i]!);
      ends.push(text.ends[i]!);
    }
  });
  return { chars, starts, ends };
}

function cleanTextChar(c: string): string[] {
  const cp = c.codePointAt(0)!;
  const isTabOrNewline = c === "\t" || c === "\n" || c === "\r";
  // BERT counts \t \n \r as whitespace, every other C* character (and NUL, U+FFFD) is dropped.
  if (cp === 0 || cp === 0xfffd || (!isTabOrNewline && OTHER.test(c))) return [];
  return [isTabOrNewline || isWhitespace(c) ? " " : c];
}

function stripAccentsChar(c: string): string[] {
  // NFD per code point, then drop the Mn marks the decomposition produced. (Rust runs NFD over the
  // whole string, which also reorders combining marks; only Mn marks can be reordered in practice,
  // and they are all removed, so the result is the same.)
  return Array.from(c.normalize("NFD")).filter((d) => !NONSPACING_MARK.test(d));
}

/**
 * `BertNormalizer`: clean text, space out CJK ideographs, strip accents (NFD minus Mn), lowercase.
 * Lowercasing is per code point like Rust's `char::to_lowercase` (so "İ" → "i̇", Σ never becomes ς).
 * Example: " Ça\u0000 va 中" → " ca va  中 ".
 */
export function bertNormalize(text: AlignedText, opts: BertNormalizerOptions): AlignedText {
  let out = text;
  if (opts.cleanText) out = remap(out, cleanTextChar);
  if (opts.handleChineseChars) out = remap(out, (c) => (isChineseChar(c.codePointAt(0)!) ? [" ", c, " "] : [c]));
  if (opts.stripAccents) out = remap(out, stripAccentsChar);
  if (opts.lowercase) out = remap(out, (c) => Array.from(c.toLowerCase()));
  return out;
}

/**
 * `BertPreTokenizer`: words are split on whitespace (removed) and every punctuation character
 * becomes a word of its own. Returns `[start, end)` ranges over `chars[from, to)`.
 * Example: "hi, you" → "hi" "," "you".
 */
export function bertPreTokenize(chars: readonly string[], from = 0, to = chars.length): Array<[number, number]> {
  const words: Array<[number, number]> = [];
  let wordStart = -1;
  for (let i = from; i < to; i++) {
    const c = chars[i]!;
    const space = isWhitespace(c);
    if (space || isBertPunctuation(c)) {
      if (wordStart >= 0) words.push([wordStart, i]);
      wordStart = -1;
      if (!space) words.push([i, i + 1]);
    } else if (wordStart < 0) {
      wordStart = i;
    }
  }
  if (wordStart >= 0) words.push([wordStart, to]);
  return words;
}

/** Settings of a WordPiece model. */
export interface WordPieceModel {
  readonly vocab: ReadonlyMap<string, number>;
  readonly unkToken: string;
  readonly unkId: number;
  readonly continuingSubwordPrefix: string;
  readonly maxInputCharsPerWord: number;
  /** Longest vocabulary entry in code points: bounds the greedy search without changing its result. */
  readonly longestTokenChars: number;
}

/** One WordPiece sub-token with its `[start, end)` range inside the word (code points). */
export interface WordPieceToken {
  readonly id: number;
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Greedy longest-match-first WordPiece over one word (`chars[from, to)`), offsets relative to `from`.
 * A word longer than `maxInputCharsPerWord` or with any piece missing from the vocab is one `[UNK]`.
 * Example (vocab a, ##b): "ab" → a ##b; "ac" → [UNK].
 */
export function wordPieceTokenize(model: WordPieceModel, chars: readonly string[], from: number, to: number): WordPieceToken[] {
  const length = to - from;
  const unknown = [{ id: model.unkId, value: model.unkToken, start: 0, end: length }];
  if (length > model.maxInputCharsPerWord) return unknown;
  const pieces: WordPieceToken[] = [];
  let start = 0;
  while (start < length) {
    let found: WordPieceToken | undefined;
    for (let end = Math.min(length, start + model.longestTokenChars); end > start; end--) {
      const body = chars.slice(from + start, from + end).join("");
      const value = start > 0 ? model.continuingSubwordPrefix + body : body;
      const id = model.vocab.get(value);
      if (id !== undefined) {
        found = { id, value, start, end };
        break;
      }
    }
    if (!found) return unknown;
    pieces.push(found);
    start = found.end;
  }
  return pieces;
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

/**
 * The Rust WordPiece decoder's own clean-up, applied to each token separately (after its leading
 * space was added): transformers' list plus " do not" → " don't" (no rule can create or consume
 * another's text, so the order of that one rule does not matter).
 */
export function wordPieceCleanup(token: string): string {
  return cleanUpTokenization(token.replaceAll(" do not", " don't"));
}

/**
 * The Rust `WordPiece` decoder: tokens after the first lose their `prefix` if they have it, or get a
 * leading space otherwise. The first token keeps its `##` (a caption starting with "##t" shows it).
 * Example: ["a", "photo", "##graph", "."] → "a photograph.".
 */
export function wordPieceDecode(tokens: readonly string[], prefix: string, cleanup: boolean): string {
  return tokens
    .map((token, i) => {
      let piece = token;
      if (i !== 0) piece = token.startsWith(prefix) ? token.slice(prefix.length) : " " + token;
      return cleanup ? wordPieceCleanup(piece) : piece;
    })
    .join("");
}
