// The loader table: config.json's model_type picks the family; what it cannot serve is refused
// with the file, the type and the supported ones named. Tokenizers likewise by tokenizer.json's model.type.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadCaptionModel, UnsupportedModelError } from "../../src/models/index.js";
import { loadTokenizer } from "../../src/preprocess/tokenizers.js";
import { TokenizerError } from "../../src/preprocess/tokenizer_json.js";
import { blipCaseDir, readExpected } from "../helpers/golden.js";

test("a BLIP folder loads as a CaptionModel of type blip with its special ids and positions", async () => {
  const model = await loadCaptionModel(blipCaseDir("base_like_32px"), { threads: 1 });
  try {
    assert.equal(model.modelType, "blip");
    const ids = readExpected("base_like_32px").special_ids;
    assert.deepEqual(model.special, { bos: ids.dec_bos_token_id, eos: ids.sep_token_id_used_as_eos, pad: ids.pad_token_id });
    const config = JSON.parse(fs.readFileSync(path.join(blipCaseDir("base_like_32px"), "config.json"), "utf8"));
    assert.equal(model.maxPositions, config.text_config.max_position_embeddings);
    assert.deepEqual(model.promptIds(undefined), [ids.dec_bos_token_id]);
  } finally {
    await model.release();
  }
});

test("an unsupported model_type is refused naming the file, the type and what is supported", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loader-"));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "llava" }));
  await assert.rejects(loadCaptionModel(dir), (e: Error) => e instanceof UnsupportedModelError && e.message.includes(path.join(dir, "config.json")) && /"llava" is not supported/.test(e.message) && /blip/.test(e.message));
});

test("tokenizers are chosen by tokenizer.json's model.type; others are refused naming the file", () => {
  const tokenizer = loadTokenizer(path.join(blipCaseDir("base_like_32px"), "tokenizer.json"));
  assert.ok(tokenizer.encode("a red circle").ids.length > 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tok-"));
  const file = path.join(dir, "tokenizer.json");
  fs.writeFileSync(file, JSON.stringify({ model: { type: "Unigram", vocab: [] } }));
  assert.throws(() => loadTokenizer(file), (e: Error) => e instanceof TokenizerError && e.message.startsWith(file) && /"Unigram" is not supported: only WordPiece/.test(e.message));
});
