// Training batches against the reference's tensors (golden/blip/training: BertTokenizer with
// padding="longest", column 0 → [DEC], padding → -100 in the labels), pairs and the seeded shuffle.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { readSplit } from "../../src/datasets/imagefolder.js";
import { loadTokenizer } from "../../src/preprocess/tokenizers.js";
import { batchesOf, captionPairs, collate, Prng, shuffledOrder, targetTokens, TrainingDataError } from "../../src/training/data.js";
import { blipCaseDir, goldenRoot } from "../helpers/golden.js";

const modelDir = blipCaseDir("base_like_32px");
const tokenizer = loadTokenizer(path.join(modelDir, "tokenizer.json"));
const bos = (JSON.parse(fs.readFileSync(path.join(modelDir, "config.json"), "utf8")) as { text_config: { bos_token_id: number } }).text_config.bos_token_id;
const golden = JSON.parse(fs.readFileSync(path.join(goldenRoot, "blip/training/expected.json"), "utf8")) as {
  batches: Record<string, { files: string[]; captions: string[]; input_ids: number[][]; attention_mask: number[][]; labels: number[][] }>;
};
const shapesTrain = path.join(goldenRoot, "../datasets/shapes/train");

for (const name of ["b1", "b2"]) {
  test(`batch ${name} equals the reference's input_ids, attention_mask and labels exactly`, () => {
    const b = golden.batches[name]!;
    const batch = collate(b.captions.map((c) => tokenizer.encode(c).ids), { bos, pad: tokenizer.padTokenId });
    assert.deepEqual(batch.inputIds, b.input_ids);
    assert.deepEqual(batch.attentionMask, b.attention_mask);
    assert.deepEqual(batch.labels, b.labels);
  });
}

test("every reference caption of every image is a pair; the golden batch's captions are among them", () => {
  const split = readSplit(shapesTrain);
  const pairs = captionPairs(split.items, tokenizer, 64);
  assert.equal(pairs.length, split.items.reduce((n, it) => n + it.references.length, 0));
  assert.equal(pairs.length, 1182);
  for (const [k, file] of golden.batches.b1!.files.entries()) {
    const image = split.items.findIndex((it) => it.id === file);
    assert.ok(pairs.some((p) => p.image === image && p.caption === golden.batches.b1!.captions[k]), file);
  }
});

test("a caption longer than the decoder's positions is refused with its item named", () => {
  const items = [{ id: "long.png", file: "/x/long.png", text: "a", references: ["a red square ".repeat(20)] }];
  assert.throws(() => captionPairs(items, tokenizer, 64), (e: Error) => e instanceof TrainingDataError && /long\.png/.test(e.message) && /at most 64/.test(e.message));
});

test("target tokens: shifted by one, padding ignored", () => {
  const b = collate([[4, 9, 9, 5], [4, 5]], { bos: 200, pad: 0 });
  assert.deepEqual(b.labels, [[200, 9, 9, 5], [200, 5, -100, -100]]);
  assert.equal(targetTokens(b.labels), 3 + 1);
});

test("the shuffle is a permutation, repeatable from the seed and from a saved generator state", () => {
  const a = new Prng(7);
  const first = shuffledOrder(100, a);
  assert.deepEqual([...first].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(shuffledOrder(100, new Prng(7)), first);
  assert.notDeepEqual(shuffledOrder(100, new Prng(8)), first);
  const saved = a.state;
  const second = shuffledOrder(100, a);
  assert.notDeepEqual(second, first);
  assert.deepEqual(shuffledOrder(100, Prng.fromState(saved)), second);
});

test("batches cover the order once, the last one shorter", () => {
  const batches = batchesOf(Array.from({ length: 1182 }, (_, i) => i), 32);
  assert.equal(batches.length, 37); // the recipe's 30 epochs = 1,110 steps
  assert.equal(batches.at(-1)!.length, 1182 - 36 * 32);
});
