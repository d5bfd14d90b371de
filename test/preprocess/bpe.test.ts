// Byte-level BPE tokenizer against the BLIP-2 golden data (transformers 4.40.2 GPT2Tokenizer and the
// Rust fast tokenizer), plus UTF-8 replacement, pre-tokenisation and file-format cases derived from
// their definitions (Unicode §3.9, GPT-2's regex, tokenizer.json's merges forms).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BpeTokenizer } from "../../src/preprocess/bpe.js";
import { BYTE_TO_CHAR } from "../../src/preprocess/byte_level.js";
import { TokenizerError } from "../../src/preprocess/tokenizer_json.js";
import { loadTokenizer } from "../../src/preprocess/tokenizers.js";

const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/blip2/", import.meta.url));

interface TokenizationCase {
  text: string;
  input_ids: number[];
  tokens: string[];
  fast_input_ids: number[];
  fast_tokens: string[];
  fast_equals_slow: boolean;
}
type Decoded = Record<"slow_skip_special" | "slow_keep_special" | "fast_skip_special" | "fast_keep_special", string[]>;
interface Expected {
  tokenizer: { vocab_size: number; pad: [string, number]; bos: [string, number]; all_special_ids: number[] };
  tokenization: TokenizationCase[];
  generation: { name: string; output_ids: number[][]; decoded: Decoded }[];
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, "utf8"));
const caseNames = (readJson(join(GOLDEN, "cases.json")) as { cases: { case: string }[] }).cases.map((c) => c.case);
const SLOW_FILES = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"];

/** Runs `body` with a fresh temporary folder, removed afterwards. */
function withTempDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "bpe-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

describe("BpeTokenizer on the BLIP-2 golden cases", () => {
  assert.equal(caseNames.length, 2);
  for (const name of caseNames) {
    describe(name, () => {
      const dir = join(GOLDEN, name);
      const expected = readJson(join(dir, "expected.json")) as Expected;
      const fast = loadTokenizer(join(dir, "tokenizer.json"));
      const slow = BpeTokenizer.fromSlowFiles(dir);

      it("is the BPE row of the tokenizer table, with OPT's special ids", () => {
        assert.ok(fast instanceof BpeTokenizer);
        assert.equal(fast.vocabSize, expected.tokenizer.vocab_size);
        assert.equal(fast.padTokenId, expected.tokenizer.pad[1]);
        assert.deepEqual([...fast.specialTokenIds].sort(), [...expected.tokenizer.all_special_ids].sort());
        assert.deepEqual([...slow.specialTokenIds].sort(), [...expected.tokenizer.all_special_ids].sort());
        assert.equal(fast.tokenToId(expected.tokenizer.bos[0]), expected.tokenizer.bos[1]);
        const direct = BpeTokenizer.fromFile(join(dir, "tokenizer.json"));
        assert.deepEqual(direct.encode("a photo of"), fast.encode("a photo of"));
      });

      it("encodes every tokenization case exactly (ids and tokens, from tokenizer.json and from the slow files)", () => {
        assert.ok(expected.tokenization.length >= 10);
        for (const c of expected.tokenization) {
          assert.ok(c.fast_equals_slow, c.text);
          const f = fast.encode(c.text);
          assert.deepEqual(f.ids, c.fast_input_ids, JSON.stringify(c.text));
          assert.deepEqual(f.tokens, c.fast_tokens, JSON.stringify(c.text));
          const s = slow.encode(c.text);
          assert.deepEqual(s.ids, c.input_ids, JSON.stringify(c.text));
          assert.deepEqual(s.tokens, c.tokens, JSON.stringify(c.text));
        }
      });

      it("encodes without the template's BOS when asked", () => {
        for (const c of expected.tokenization) {
          assert.equal(c.fast_input_ids[0], expected.tokenizer.bos[1]);
          assert.deepEqual(fast.encode(c.text, { addSpecialTokens: false }).ids, c.fast_input_ids.slice(1), JSON.stringify(c.text));
        }
      });

      it("decodes every generation output exactly, skipping or keeping special tokens", () => {
        for (const g of expected.generation) {
          g.output_ids.forEach((ids, row) => {
            for (const tokenizer of [fast, slow]) {
              assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), g.decoded.fast_skip_special[row], `${g.name}[${row}]`);
              assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), g.decoded.slow_skip_special[row], `${g.name}[${row}]`);
              assert.equal(tokenizer.decode(ids), g.decoded.fast_keep_special[row], `${g.name}[${row}]`);
              assert.equal(tokenizer.decode(ids), g.decoded.slow_keep_special[row], `${g.name}[${row}]`);
            }
          });
        }
      });
    });
  }
});

describe("BpeTokenizer on OPT's special tokens (golden opt_28px_q8 files)", () => {
  const dir = join(GOLDEN, "opt_28px_q8");
  const tok = loadTokenizer(join(dir, "tokenizer.json")) as BpeTokenizer;
  const id = (token: string): number => tok.tokenToId(token)!;

  it("keeps added tokens whole wherever they are, with no space before the next word", () => {
    // "</s>" and "<pad>" are added tokens; "<s>" is ordinary text split by the GPT-2 regex.
    const e = tok.encode("</s></s>a photo<pad>of<s>");
    assert.deepEqual(e.tokens, ["</s>", "</s>", "</s>", "a", "Ġphoto", "<pad>", "o", "f", "<", "s", ">"]);
    assert.deepEqual(e.ids.slice(0, 3), [2, 2, 2]);
    assert.equal(e.ids[5], 1);
    assert.equal(tok.decode(e.ids), "</s></s></s>a photo<pad>of<s>");
    assert.equal(tok.decode(e.ids, { skipSpecialTokens: true }), "a photoof<s>");
  });

  it("encodes and decodes an empty string", () => {
    assert.deepEqual(tok.encode("").ids, [2]);
    assert.deepEqual(tok.encode("", { addSpecialTokens: false }), { ids: [], tokens: [], offsets: [] });
    assert.equal(tok.decode([]), "");
    assert.equal(tok.decode([2, 1], { skipSpecialTokens: true }), "");
  });

  it("round-trips unicode, spaces, tabs and newlines", () => {
    const texts = ["  two  spaces   and a tab\tnewline\nend\n\n", "中文 🙂 café naïve", "\r\n\u00a0x\u3000y\u2028", "e\u0301 ﬁ Ω", " leading and trailing "];
    for (const text of texts) {
      const ids = tok.encode(text, { addSpecialTokens: false }).ids;
      assert.equal(tok.decode(ids, { cleanUpTokenizationSpaces: false }), text, JSON.stringify(text));
    }
  });

  it("splits runs of spaces as GPT-2 does: the last space joins the next word", () => {
    assert.deepEqual(tok.encode("a   the", { addSpecialTokens: false }).tokens, ["a", "Ġ", "Ġ", "Ġthe"]);
    assert.deepEqual(tok.encode("a\n the", { addSpecialTokens: false }).tokens, ["a", "Ċ", "Ġthe"]);
    assert.deepEqual(tok.encode("the   ", { addSpecialTokens: false }).tokens, ["t", "he", "Ġ", "Ġ", "Ġ"]);
  });

  it("gives code-point offsets into the text; bytes of one character share its span", () => {
    const e = tok.encode("a café🙂", { addSpecialTokens: true });
    assert.deepEqual(e.tokens, ["</s>", "a", "Ġc", "a", "f", "Ã", "©", "ð", "Ł", "Ļ", "Ĥ"]);
    assert.deepEqual(e.offsets, [[0, 0], [0, 1], [1, 3], [3, 4], [4, 5], [5, 6], [5, 6], [6, 7], [6, 7], [6, 7], [6, 7]]);
  });

  it("cleans up tokenization spaces as tokenizer_config.json says (clean_up_tokenization_spaces: true)", () => {
    // transformers' clean_up_tokenization: " ." → ".", " ," → ",", " 's" → "'s", " n't" → "n't", …
    const ids = tok.encode("it 's a dog , is n't it ?", { addSpecialTokens: false }).ids;
    assert.equal(tok.decode(ids), "it's a dog, isn't it?");
    assert.equal(tok.decode(ids, { cleanUpTokenizationSpaces: false }), "it 's a dog , is n't it ?");
  });

  it("drops ids outside the vocabulary and rejects ids that are not token ids", () => {
    assert.equal(tok.decode([id("a"), 99999, id("Ġphoto")]), "a photo");
    assert.throws(() => tok.decode([-1]), TokenizerError);
    assert.throws(() => tok.decode([1.5]), TokenizerError);
  });
});

/** Unicode §3.9 (Table 3-7 well-formed sequences), replacing each maximal subpart of an ill-formed one by one U+FFFD. */
function referenceUtf8Decode(bytes: readonly number[]): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      out += String.fromCharCode(lead);
      i++;
      continue;
    }
    // [continuation bytes needed, allowed range of the second byte]
    const shape: [number, number, number] | null =
      lead >= 0xc2 && lead <= 0xdf ? [1, 0x80, 0xbf]
      : lead === 0xe0 ? [2, 0xa0, 0xbf]
      : lead === 0xed ? [2, 0x80, 0x9f]
      : lead >= 0xe1 && lead <= 0xef ? [2, 0x80, 0xbf]
      : lead === 0xf0 ? [3, 0x90, 0xbf]
      : lead === 0xf4 ? [3, 0x80, 0x8f]
      : lead >= 0xf1 && lead <= 0xf3 ? [3, 0x80, 0xbf]
      : null;
    if (!shape) {
      out += "\uFFFD";
      i++;
      continue;
    }
    const [need, lo, hi] = shape;
    let cp = lead & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    let k = 0;
    while (k < need) {
      const b = bytes[i + 1 + k];
      const [min, max] = k === 0 ? [lo, hi] : [0x80, 0xbf];
      if (b === undefined || b < min || b > max) break;
      cp = (cp << 6) | (b & 0x3f);
      k++;
    }
    out += k === need ? String.fromCodePoint(cp) : "\uFFFD";
    i += 1 + k;
  }
  return out;
}

describe("decoding invalid UTF-8 like Python's bytes.decode('utf-8', errors='replace')", () => {
  const tok = loadTokenizer(join(GOLDEN, "opt_28px_q8", "tokenizer.json")) as BpeTokenizer;
  // In a byte-level vocabulary each byte has a one-character token: the GPT-2 byte → character map.
  const byteIds = (bytes: readonly number[]): number[] => bytes.map((b) => tok.tokenToId(BYTE_TO_CHAR[b]!)!);
  const decodeBytes = (bytes: readonly number[]): string => tok.decode(byteIds(bytes), { cleanUpTokenizationSpaces: false });

  it("maps bytes to the characters of GPT-2's bytes_to_unicode", () => {
    // Printable Latin-1 stands for itself; the other 68 bytes become U+0100… in byte order.
    const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    let n = 0;
    for (let b = 0; b < 256; b++) assert.equal(BYTE_TO_CHAR[b], String.fromCodePoint(printable(b) ? b : 256 + n++), `byte ${b}`);
    assert.equal(BYTE_TO_CHAR[0x20], "Ġ");
    assert.equal(BYTE_TO_CHAR[0x0a], "Ċ");
  });

  it("replaces each maximal subpart by one U+FFFD (hand-worked cases)", () => {
    const F = "\uFFFD";
    const cases: Array<[number[], string]> = [
      [[0xe4, 0xb8], F], // truncated 中 (E4 B8 AD): one maximal subpart
      [[0xe4, 0xb8, 0x41], `${F}A`],
      [[0xf0, 0x9f, 0x99], F], // truncated 🙂
      [[0xf0, 0x9f, 0x99, 0x82, 0x82], `🙂${F}`], // stray continuation byte after a whole character
      [[0x80], F],
      [[0x80, 0xbf], F + F], // each lone continuation byte is its own subpart
      [[0xc0, 0xaf], F + F], // C0/C1 can never start a sequence (overlong)
      [[0xe0, 0x80, 0xaf], F + F + F], // E0 needs A0..BF next: overlong
      [[0xed, 0xa0, 0x80], F + F + F], // surrogate D800
      [[0xf4, 0x90, 0x80, 0x80], F + F + F + F], // above U+10FFFF
      [[0xf5, 0xff, 0xfe], F + F + F],
      [[0xdf, 0x94], "ߔ"],
      [[0xef, 0xbb, 0xbf, 0x41], "\uFEFFA"], // a byte-order mark is kept (TextDecoder would drop it by default)
      // Unicode Standard Table 3-8's example.
      [[0x61, 0xf1, 0x80, 0x80, 0xe1, 0x80, 0xc2, 0x62, 0x80, 0x63, 0x80, 0xbf, 0x64], `a${F}${F}${F}b${F}c${F}${F}d`],
    ];
    for (const [bytes, text] of cases) {
      assert.equal(referenceUtf8Decode(bytes), text, `reference ${bytes}`);
      assert.equal(decodeBytes(bytes), text, `decode ${bytes}`);
    }
  });

  it("agrees with the §3.9 reference on random byte strings", () => {
    const pool = [0x41, 0x20, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff, 0xbb];
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let t = 0; t < 3000; t++) {
      const bytes = Array.from({ length: 1 + next(8) }, () => pool[next(pool.length)]!);
      assert.equal(decodeBytes(bytes), referenceUtf8Decode(bytes), `bytes ${bytes.map((b) => b.toString(16))}`);
    }
  });

  it("decodes a character whose bytes are in different tokens as one character", () => {
    assert.equal(decodeBytes([0xe4, 0xb8, 0xad]), "中");
    assert.equal(tok.decode([...byteIds([0xe4]), 2, ...byteIds([0xb8, 0xad])]), `\uFFFD</s>\uFFFD\uFFFD`);
    assert.equal(tok.decode([...byteIds([0xe4]), 2, ...byteIds([0xb8, 0xad])], { skipSpecialTokens: true }), "中");
  });
});

/** A tokenizer.json over the 256 byte symbols plus `merges` (and extra `words`), merges written as "a b" strings or [a, b] pairs. */
function byteLevelJson(merges: Array<[string, string]>, form: "strings" | "pairs", extra: { addPrefixSpace?: boolean; words?: string[] } = {}) {
  const vocab: Record<string, number> = { "<pad>": 0, "<|eot|>": 1 };
  for (const c of BYTE_TO_CHAR) vocab[c] = Object.keys(vocab).length;
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
  for (const word of extra.words ?? []) vocab[word] = Object.keys(vocab).length;
  const special = (id: number, content: string, isSpecial: boolean) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: !isSpecial, special: isSpecial });
  return {
    version: "1.0",
    added_tokens: [special(0, "<pad>", true), special(1, "<|eot|>", true), special(Object.keys(vocab).length, "two words", false)],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: extra.addPrefixSpace ?? false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    padding: { pad_token: "<pad>" },
    model: { type: "BPE", dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab, merges: form === "strings" ? merges.map((m) => m.join(" ")) : merges.map((m) => [...m]) },
  };
}

describe("BpeTokenizer on hand-made tokenizer.json files", () => {
  const merges: Array<[string, string]> = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "w"], ["!", "Â"], ["!", "ï"], ["a", "a"]];

  it("reads merges given as \"a b\" strings and as [a, b] pairs the same way", () => {
    const a = BpeTokenizer.fromJson(byteLevelJson(merges, "strings"));
    const b = BpeTokenizer.fromJson(byteLevelJson(merges, "pairs"));
    for (const text of ["hello world", "hellhello", "aaaaa"]) {
      assert.deepEqual(a.encode(text), b.encode(text));
    }
    assert.deepEqual(a.encode("hello wo").tokens, ["hello", "Ġw", "o"]);
  });

  it("applies merges by rank, each pass left to right without overlaps", () => {
    const tok = BpeTokenizer.fromJson(byteLevelJson(merges, "pairs"));
    assert.deepEqual(tok.encode("aaaaa").tokens, ["aa", "aa", "a"]);
    assert.deepEqual(tok.encode("hellhello").tokens, ["hell", "hello"]);
  });

  it("splits with Unicode White_Space as \\s: U+0085 is whitespace, U+FEFF is not", () => {
    const tok = BpeTokenizer.fromJson(byteLevelJson(merges, "pairs"));
    // U+0085 is C2 85 ("Â" + a shifted char): as whitespace it is its own piece, so "!" cannot merge with "Â".
    assert.deepEqual(tok.encode("!\u0085").tokens, ["!", "Â", BYTE_TO_CHAR[0x85]]);
    // U+FEFF is EF BB BF ("ï»¿"): not whitespace, so it stays in the punctuation run with "!" and merges.
    assert.deepEqual(tok.encode("!\ufeff").tokens, ["!ï", "»", "¿"]);
  });

  it("adds a prefix space to each stretch between added tokens when add_prefix_space is on", () => {
    const tok = BpeTokenizer.fromJson(byteLevelJson(merges, "pairs", { addPrefixSpace: true }));
    assert.deepEqual(tok.encode("world<|eot|>world").tokens, ["Ġw", "o", "r", "l", "d", "<|eot|>", "Ġw", "o", "r", "l", "d"]);
    assert.deepEqual(tok.encode(" world").tokens, ["Ġw", "o", "r", "l", "d"]);
    assert.deepEqual(tok.encode("").tokens, []);
  });

  it("decodes an added token outside the byte alphabet as its own text", () => {
    const tok = BpeTokenizer.fromJson(byteLevelJson(merges, "pairs"));
    const e = tok.encode("hello two words<|eot|>");
    assert.deepEqual(e.tokens, ["hello", "Ġ", "two words", "<|eot|>"]);
    assert.equal(tok.decode(e.ids), "hello two words<|eot|>");
    assert.equal(tok.decode(e.ids, { skipSpecialTokens: true }), "hello two words");
  });

  it("uses unk for symbols missing from the vocab (fused when fuse_unk), and drops them before merging without unk", () => {
    const json = byteLevelJson(merges, "pairs");
    const vocab = json.model.vocab;
    vocab["<unused>"] = vocab.z!; // "z" is no longer a vocabulary symbol (same ids, so added tokens keep theirs)
    delete vocab.z;
    assert.deepEqual(BpeTokenizer.fromJson(json).encode("azzb").tokens, ["a", "b"]);
    // Dropped before merging (as in Rust): its neighbours become adjacent and merge.
    assert.deepEqual(BpeTokenizer.fromJson(json).encode("hezllo").tokens, ["hello"]);
    Object.assign(json.model, { unk_token: "<pad>" });
    assert.deepEqual(BpeTokenizer.fromJson(json).encode("azzb").tokens, ["a", "<pad>", "<pad>", "b"]);
    assert.deepEqual(BpeTokenizer.fromJson(json).encode("hezllo").tokens, ["he", "<pad>", "ll", "o"]);
    Object.assign(json.model, { fuse_unk: true });
    const fused = BpeTokenizer.fromJson(json).encode("azzb");
    assert.deepEqual(fused.tokens, ["a", "<pad>", "b"]);
    assert.deepEqual(fused.offsets, [[0, 1], [1, 3], [3, 4]]);
  });

  it("takes a word that is in the vocabulary whole when ignore_merges is set", () => {
    const json = byteLevelJson(merges, "pairs", { words: ["hel"] });
    assert.deepEqual(BpeTokenizer.fromJson(json).encode("hel").tokens, ["he", "l"]);
    Object.assign(json.model, { ignore_merges: true });
    assert.deepEqual(BpeTokenizer.fromJson(json).encode("hel").tokens, ["hel"]);
  });

  it("adds the special tokens tokenizer_config.json names, as transformers does at load time", () => {
    withTempDir((dir) => {
      const json = byteLevelJson(merges, "pairs");
      json.added_tokens = [];
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|eot|>", pad_token: { content: "<pad>" } }));
      const tok = loadTokenizer(join(dir, "tokenizer.json"));
      const e = tok.encode("hello<|eot|><pad>");
      assert.deepEqual(e.tokens, ["hello", "<|eot|>", "<pad>"]);
      assert.deepEqual(e.ids.slice(1), [1, 0]); // their vocabulary ids
      assert.equal(tok.padTokenId, 0);
      assert.equal(tok.decode(e.ids, { skipSpecialTokens: true }), "hello");
    });
  });

  it("refuses what it does not implement, naming the field", () => {
    const bad = (edit: (json: ReturnType<typeof byteLevelJson>) => void, pattern: RegExp): void => {
      const json = byteLevelJson(merges, "pairs");
      edit(json);
      assert.throws(() => BpeTokenizer.fromJson(json), (err: unknown) => err instanceof TokenizerError && pattern.test(err.message));
    };
    bad((j) => Object.assign(j.model, { dropout: 0.1 }), /model\.dropout/);
    bad((j) => Object.assign(j.model, { byte_fallback: true }), /model\.byte_fallback/);
    bad((j) => (j.model.merges as unknown[]).push(["q", "zz"]), /model\.merges\[8\].*"zz" is not in the vocabulary/);
    bad((j) => Object.assign(j, { pre_tokenizer: { type: "Metaspace" } }), /pre_tokenizer\.type "Metaspace"/);
    bad((j) => Object.assign(j, { normalizer: { type: "NFC" } }), /normalizer "NFC"/);
    bad((j) => Object.assign(j, { padding: null }), /no padding token/);
  });
});

describe("loadTokenizer with only the slow files (vocab.json + merges.txt)", () => {
  const golden = join(GOLDEN, "opt_30px_q5_xattn1");

  it("builds the same tokenizer as tokenizer.json", () => {
    withTempDir((dir) => {
      for (const f of SLOW_FILES) copyFileSync(join(golden, f), join(dir, f));
      const slow = loadTokenizer(join(dir, "tokenizer.json"));
      const fast = loadTokenizer(join(golden, "tokenizer.json"));
      for (const text of ["a photo of a dog sitting on the couch.", "special <s> and </s> and <pad> inside", "  two  spaces\n"]) {
        assert.deepEqual(slow.encode(text), fast.encode(text));
      }
      assert.equal(slow.vocabSize, fast.vocabSize);
      assert.equal(slow.padTokenId, fast.padTokenId);
    });
  });

  it("follows tokenizer_config.json: add_prefix_space, add_bos_token, clean_up_tokenization_spaces", () => {
    withTempDir((dir) => {
      for (const f of SLOW_FILES) copyFileSync(join(golden, f), join(dir, f));
      const config = readJson(join(golden, "tokenizer_config.json")) as Record<string, unknown>;
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, add_prefix_space: true, add_bos_token: false, clean_up_tokenization_spaces: false }));
      const tok = loadTokenizer(join(dir, "tokenizer.json"));
      assert.deepEqual(tok.encode("a photo").tokens, ["Ġa", "Ġphoto"]); // no BOS, a space before "a"
      assert.equal(tok.decode(tok.encode("the dog .").ids), " the dog .");
    });
  });

  it("a tokenizer_config.json without add_prefix_space means false, whatever tokenizer.json says (GPT2TokenizerFast's default)", () => {
    withTempDir((dir) => {
      for (const f of [...SLOW_FILES, "tokenizer.json"]) copyFileSync(join(golden, f), join(dir, f));
      const json = readJson(join(golden, "tokenizer.json")) as { pre_tokenizer: Record<string, unknown> };
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ ...json, pre_tokenizer: { ...json.pre_tokenizer, add_prefix_space: true } }));
      const { add_prefix_space: _dropped, ...config } = readJson(join(golden, "tokenizer_config.json")) as Record<string, unknown>;
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config));
      assert.equal(loadTokenizer(join(dir, "tokenizer.json")).encode("a photo").tokens[1], "a");
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, add_prefix_space: true }));
      assert.equal(loadTokenizer(join(dir, "tokenizer.json")).encode("a photo").tokens[1], "Ġa", "the key, when present, decides");
    });
  });

  it("says which file is missing", () => {
    withTempDir((dir) => {
      copyFileSync(join(golden, "vocab.json"), join(dir, "vocab.json"));
      assert.throws(() => loadTokenizer(join(dir, "tokenizer.json")), (err: unknown) => err instanceof TokenizerError && err.message.includes("tokenizer.json"));
    });
  });
});
