// BertTokenizer against the BLIP golden data (transformers 4.40.2 + Rust tokenizers), all 4 cases.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BertTokenizer, TokenizerError } from "../../src/preprocess/tokenizer.js";

// dist/test/x.test.js → repo root is ../../, the golden data lives next to the repo.
const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/blip/", import.meta.url));

interface TokenizationCase {
  text: string;
  input_ids: number[];
  fast_input_ids: number[];
  fast_tokens: string[];
  fast_offsets: [number, number][];
}
interface DecodeCase {
  ids: number[];
  fast_skip_special: string;
  fast_keep_special: string;
  rust_skip_special_raw: string;
}
interface GenerationCase {
  name: string;
  output_ids: number[][];
  decoded: { fast_skip_special: string[]; fast_keep_special: string[] };
}
interface Expected {
  tokenizer: { len_with_added: number; cls: [string, number]; sep: [string, number]; pad: [string, number]; unk: [string, number] };
  special_ids: { dec_bos_token_id: number };
  tokenization: TokenizationCase[];
  tokenization_batch_padded: { texts: string[]; input_ids: number[][]; attention_mask: number[][] };
  decode_cases: DecodeCase[];
  generation: GenerationCase[];
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));
const caseNames = (readJson(join(GOLDEN, "cases.json")) as { cases: { case: string }[] }).cases.map((c) => c.case);

describe("BertTokenizer on the BLIP golden cases", () => {
  assert.equal(caseNames.length, 4);
  for (const name of caseNames) {
    describe(name, () => {
      const dir = join(GOLDEN, name);
      const expected = readJson(join(dir, "expected.json")) as Expected;
      const tokenizer = BertTokenizer.fromFile(join(dir, "tokenizer.json"));

      it("exposes the special ids and the vocabulary size", () => {
        assert.equal(tokenizer.clsTokenId, expected.tokenizer.cls[1]);
        assert.equal(tokenizer.sepTokenId, expected.tokenizer.sep[1]);
        assert.equal(tokenizer.padTokenId, expected.tokenizer.pad[1]);
        assert.equal(tokenizer.unkTokenId, expected.tokenizer.unk[1]);
        assert.equal(tokenizer.vocabSize, expected.tokenizer.len_with_added);
        assert.equal(tokenizer.tokenToId(expected.tokenizer.sep[0]), expected.tokenizer.sep[1]);
        assert.equal(tokenizer.idToToken(expected.tokenizer.cls[1]), expected.tokenizer.cls[0]);
      });

      it("encodes every text like the fast tokenizer (ids, tokens, offsets)", () => {
        assert.ok(expected.tokenization.length >= 10);
        for (const c of expected.tokenization) {
          const got = tokenizer.encode(c.text);
          assert.deepEqual(got.ids, c.fast_input_ids, `ids of ${JSON.stringify(c.text)}`);
          assert.deepEqual(got.ids, c.input_ids, `slow ids of ${JSON.stringify(c.text)}`);
          assert.deepEqual(got.tokens, c.fast_tokens, `tokens of ${JSON.stringify(c.text)}`);
          assert.deepEqual(got.offsets, c.fast_offsets, `offsets of ${JSON.stringify(c.text)}`);
        }
      });

      it("encodes without special tokens on request", () => {
        const c = expected.tokenization[0]!;
        assert.deepEqual(tokenizer.encode(c.text, { addSpecialTokens: false }).ids, c.fast_input_ids.slice(1, -1));
      });

      it("pads a batch on the right like processor(text=..., padding=True)", () => {
        const batch = expected.tokenization_batch_padded;
        const got = tokenizer.encodeBatch(batch.texts);
        assert.deepEqual(got.inputIds, batch.input_ids);
        assert.deepEqual(got.attentionMask, batch.attention_mask);
      });

      it("decodes every decode case (skip / keep specials, raw Rust decode)", () => {
        for (const c of expected.decode_cases) {
          assert.equal(tokenizer.decode(c.ids, { skipSpecialTokens: true }), c.fast_skip_special, `skip ${c.ids}`);
          assert.equal(tokenizer.decode(c.ids), c.fast_keep_special, `keep ${c.ids}`);
          assert.equal(
            tokenizer.decode(c.ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }),
            c.rust_skip_special_raw,
            `raw ${c.ids}`,
          );
        }
      });

      it("decodes every generate() output like BertTokenizerFast.batch_decode", () => {
        assert.ok(expected.generation.length > 10);
        for (const g of expected.generation) {
          assert.deepEqual(tokenizer.batchDecode(g.output_ids, { skipSpecialTokens: true }), g.decoded.fast_skip_special, g.name);
          assert.deepEqual(tokenizer.batchDecode(g.output_ids), g.decoded.fast_keep_special, g.name);
        }
      });
    });
  }

  it("keeps [DEC]/[ENC] whole when they are added tokens, and drops [DEC] when the vocab lacks it", () => {
    const legacy = BertTokenizer.fromFile(join(GOLDEN, "legacy_files_24px", "tokenizer.json"));
    const dec = (readJson(join(GOLDEN, "legacy_files_24px", "expected.json")) as Expected).special_ids.dec_bos_token_id;
    assert.equal(legacy.tokenToId("[DEC]"), dec);
    const encoded = legacy.encode("[DEC]A dog[ENC]", { addSpecialTokens: false });
    assert.deepEqual(encoded.tokens, ["[DEC]", "a", "dog", "[ENC]"]);
    assert.deepEqual(encoded.offsets, [[0, 5], [5, 6], [7, 10], [10, 15]]);

    const base = BertTokenizer.fromFile(join(GOLDEN, "base_like_32px", "tokenizer.json"));
    assert.equal(base.tokenToId("[DEC]"), undefined);
    assert.equal(base.idToToken(200), undefined);
    assert.equal(base.decode([200, 999_999]), "");
  });
});

/** A minimal WordPiece tokenizer.json with BERT components, for behaviour and error tests. */
function tinyTokenizerJson(vocabTokens: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: "1.0",
    added_tokens: [],
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "BertProcessing",
      sep: ["[SEP]", vocabTokens.indexOf("[SEP]")],
      cls: ["[CLS]", vocabTokens.indexOf("[CLS]")],
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: Object.fromEntries(vocabTokens.map((t, i) => [t, i])) },
    ...extra,
  };
}

describe("BertTokenizer behaviour outside the golden texts", () => {
  it("honours added-token lstrip/rstrip/single_word/normalized like the Rust AddedVocabulary tests", () => {
    // Same setup as `options_use_cases` in tokenizers/src/tokenizer/added_vocabulary.rs.
    const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "is", "an", "##th", "##ony", "my", "name", "ony"];
    const flags = { single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
    const json = tinyTokenizerJson(vocab, {
      added_tokens: [
        { id: 2, content: "[CLS]", ...flags, normalized: false, special: true },
        { id: 3, content: "[SEP]", ...flags, normalized: false, special: true },
        { id: 8, content: "my", ...flags, lstrip: true, rstrip: true },
        { id: 9, content: "name", ...flags },
        { id: 10, content: "ony", ...flags, single_word: true },
      ],
    });
    const tokenizer = BertTokenizer.fromJson(json);
    const got = tokenizer.encode("[CLS] My name is Anthony [SEP]", { addSpecialTokens: false });
    assert.deepEqual(got.tokens, ["[CLS]", " my ", "name", "is", "an", "##th", "##ony", "[SEP]"]);
    assert.deepEqual(got.offsets, [[0, 5], [5, 9], [9, 13], [14, 16], [17, 19], [19, 21], [21, 24], [25, 30]]);
  });

  it("counts offsets in code points, so astral characters are one position", () => {
    const tokenizer = BertTokenizer.fromJson(tinyTokenizerJson(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"]));
    const got = tokenizer.encode("😀 a 𠀀b", { addSpecialTokens: false });
    // 😀 is one [UNK] word; U+20000 is a CJK ideograph, so it becomes its own word.
    assert.deepEqual(got.tokens, ["[UNK]", "a", "[UNK]", "b"]);
    assert.deepEqual(got.offsets, [[0, 1], [2, 3], [4, 5], [5, 6]]);
  });

  it("rejects unsupported tokenizer.json components with a TokenizerError naming them", () => {
    const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];
    const bpe = tinyTokenizerJson(vocab, { model: { type: "BPE", vocab: {}, merges: [] } });
    assert.throws(() => BertTokenizer.fromJson(bpe), (err: unknown) => err instanceof TokenizerError && /model\.type "BPE" is not supported/.test(err.message));
    const byteLevel = tinyTokenizerJson(vocab, { pre_tokenizer: { type: "ByteLevel" } });
    assert.throws(() => BertTokenizer.fromJson(byteLevel), /pre_tokenizer\.type "ByteLevel" is not supported/);
    assert.throws(() => BertTokenizer.fromJson(tinyTokenizerJson(["[PAD]", "[CLS]", "[SEP]"])), /unk_token "\[UNK\]" is not in model\.vocab/);
    assert.throws(() => BertTokenizer.fromJson([]), TokenizerError);
  });

  it("fromFile names the file when it is missing, not JSON, or unsupported", () => {
    const dir = mkdtempSync(join(tmpdir(), "tok-"));
    try {
      const missing = join(dir, "nope.json");
      assert.throws(() => BertTokenizer.fromFile(missing), (err: unknown) => err instanceof TokenizerError && err.message.includes(missing));
      const broken = join(dir, "broken.json");
      writeFileSync(broken, "{not json");
      assert.throws(() => BertTokenizer.fromFile(broken), /broken\.json is not valid JSON/);
      const bpe = join(dir, "bpe.json");
      writeFileSync(bpe, JSON.stringify(tinyTokenizerJson([], { model: { type: "BPE" } })));
      assert.throws(() => BertTokenizer.fromFile(bpe), /bpe\.json: model\.type "BPE" is not supported/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("refuses ids that are not token ids", () => {
    const tokenizer = BertTokenizer.fromJson(tinyTokenizerJson(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]));
    assert.throws(() => tokenizer.decode([1.5]), /non-negative integers/);
  });
});
