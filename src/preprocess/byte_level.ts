// GPT-2's byte-level layer, with the semantics of Hugging Face's Rust `tokenizers` ByteLevel
// pre-tokenizer and decoder: text is split with GPT-2's regex, every UTF-8 byte of a piece becomes one
// printable character, and decoding maps the characters back to bytes and reads them as UTF-8 with
// U+FFFD for invalid sequences (Python's `bytes.decode("utf-8", errors="replace")`, Rust's
// `String::from_utf8_lossy`: one U+FFFD per maximal subpart).

/** `byteToChar[b]`: the printable character GPT-2 uses for byte `b` (bytes_to_unicode). */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

function buildByteToChar(): string[] {
  // Printable Latin-1 bytes stand for themselves; the others (controls, space, 0x7F-0xA0, 0xAD) are
  // shifted to U+0100 and up, in byte order, so that no piece contains whitespace or controls.
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable(b) ? b : 256 + shifted++));
  return chars;
}

// GPT-2's pattern. `\s` is spelled \p{White_Space} because the Rust (Oniguruma) and Python `regex`
// `\s` is the Unicode White_Space property, while JavaScript's `\s` adds U+FEFF and lacks U+0085.
const GPT2_SPLIT =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** A pre-tokenised word: byte-level characters, and for each the code-point index in the text it came from. */
export interface ByteLevelWord {
  readonly chars: string;
  readonly origins: readonly number[];
}

/**
 * The ByteLevel pre-tokenizer on one stretch of text between added tokens, `chars` being its code
 * points and `offset` the index of its first one in the whole text. `addPrefixSpace` prepends a space
 * unless the stretch already starts with one (the prepended space belongs to the first character).
 */
export function byteLevelPreTokenize(chars: readonly string[], offset: number, opts: { addPrefixSpace: boolean; useRegex: boolean }): ByteLevelWord[] {
  let text = chars.join("");
  const origin: number[] = chars.map((_, i) => offset + i);
  if (opts.addPrefixSpace && chars.length > 0 && chars[0] !== " ") {
    text = " " + text;
    origin.unshift(offset);
  }
  const pieces = opts.useRegex ? splitIsolated(text) : [text];
  const words: ByteLevelWord[] = [];
  let at = 0; // code-point index into `text`
  for (const piece of pieces) {
    let byteChars = "";
    const origins: number[] = [];
    for (const c of piece) {
      for (const b of utf8Bytes(c)) {
        byteChars += BYTE_TO_CHAR[b]!;
        origins.push(origin[at]!);
      }
      at++;
    }
    words.push({ chars: byteChars, origins });
  }
  return words;
}

/** Rust's `split(regex, Isolated)`: every match is a piece, and so is any text between matches. */
function splitIsolated(text: string): string[] {
  const pieces: string[] = [];
  let last = 0;
  for (const match of text.matchAll(GPT2_SPLIT)) {
    if (match.index > last) pieces.push(text.slice(last, match.index));
    if (match[0].length > 0) pieces.push(match[0]);
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

const ENCODER = new TextEncoder();
// ignoreBOM: a leading EF BB BF must stay U+FEFF, as in Python; fatal: false replaces invalid
// sequences per maximal subpart, which is what Python's errors="replace" and Rust's lossy decoding do.
const DECODER = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** UTF-8 bytes of one code point (a lone surrogate gives U+FFFD's bytes, as TextEncoder does). */
function utf8Bytes(c: string): number[] {
  let cp = c.codePointAt(0)!;
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/** Bytes → text, invalid UTF-8 replaced by U+FFFD exactly like `bytes.decode("utf-8", errors="replace")`. */
export function decodeUtf8Lossy(bytes: Uint8Array): string {
  return DECODER.decode(bytes);
}

/**
 * The ByteLevel decoder: all tokens' characters back to bytes, then one lossy UTF-8 decode over the
 * whole sequence (a character split over several tokens decodes whole). A token with a character
 * outside the byte alphabet (an added token such as "<s> x") contributes its own UTF-8 bytes.
 */
export function byteLevelDecode(tokens: readonly string[]): string {
  const bytes: number[] = [];
  for (const token of tokens) {
    const mapped: number[] = [];
    let ok = true;
    for (const c of token) {
      const b = CHAR_TO_BYTE.get(c);
      if (b === undefined) {
        ok = false;
        break;
      }
      mapped.push(b);
    }
    bytes.push(...(ok ? mapped : ENCODER.encode(token)));
  }
  return decodeUtf8Lossy(Uint8Array.from(bytes));
}
