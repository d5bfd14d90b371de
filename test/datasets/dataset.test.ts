// The imagefolder reader on ../shared/datasets/shapes (counts from its README) and on broken folders.
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DatasetError, listSplits, openDataset, readSplit } from "../../src/datasets/imagefolder.js";
import { repoRoot } from "../helpers/golden.js";

const shapes = path.resolve(repoRoot, "../shared/datasets/shapes");

/** How many items have 1, 2 and 3 reference captions. */
const captionCounts = (items: { references: string[] }[]) => [1, 2, 3].map((n) => items.filter((it) => it.references.length === n).length);

describe("shapes dataset", () => {
  test("a root lists its splits and defaults to validation", () => {
    assert.deepEqual(listSplits(shapes), ["train", "validation"]);
    const split = openDataset(shapes);
    assert.equal(split.name, "validation");
    assert.equal(split.chosen, "default");
    assert.equal(split.items.length, 100);
    // README: validation has 28 / 27 / 45 items with 1 / 2 / 3 captions.
    assert.deepEqual(captionCounts(split.items), [28, 27, 45]);
  });

  test("--split train reads 600 items with their captions", () => {
    const split = openDataset(shapes, { split: "train" });
    assert.equal(split.chosen, "asked");
    assert.equal(split.items.length, 600);
    assert.deepEqual(captionCounts(split.items), [209, 200, 191]);
    assert.equal(split.items[599]!.id, "000599.png");
  });

  test("a split folder reads as itself, items in file order with text = captions[0]", () => {
    const split = openDataset(path.join(shapes, "validation"));
    assert.equal(split.chosen, "folder");
    assert.equal(split.name, "validation");
    const first = JSON.parse(fs.readFileSync(path.join(shapes, "validation/metadata.jsonl"), "utf8").split("\n")[0]!);
    assert.deepEqual(split.items[0], { id: "000000.png", file: path.join(shapes, "validation/000000.png"), text: first.text, references: first.captions });
    split.items.forEach((it, i) => {
      assert.equal(it.id, `${String(i).padStart(6, "0")}.png`);
      assert.equal(it.text, it.references[0]);
      assert.ok(fs.existsSync(it.file));
    });
  });
});

describe("broken datasets", () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "captioner-dataset-"));
  /** A split folder with the given metadata lines and image files. */
  const split = (lines: string[], images = ["a.png"], dir = tmp()) => {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of images) fs.writeFileSync(path.join(dir, f), "");
    fs.writeFileSync(path.join(dir, "metadata.jsonl"), lines.join("\n") + "\n");
    return dir;
  };
  const fails = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: Error) => e instanceof DatasetError && message.test(e.message));

  test("missing folder, folder without metadata or splits", () => {
    fails(() => openDataset("/nonexistent/shapes"), /\/nonexistent\/shapes does not exist/);
    fails(() => openDataset(tmp()), /has no metadata\.jsonl and no split sub-folders/);
    fails(() => readSplit(tmp()), /has no metadata\.jsonl/);
  });

  test("bad JSON and bad fields name the line", () => {
    fails(() => readSplit(split(['{"file_name": "a.png", "text": "x"}', "{oops"])), /metadata\.jsonl line 2 is not valid JSON/);
    fails(() => readSplit(split(['["a.png"]'])), /line 1 must be a JSON object/);
    fails(() => readSplit(split(['{"text": "x"}'])), /line 1: "file_name" must be a non-empty string/);
    fails(() => readSplit(split(['{"file_name": "a.png"}'])), /line 1: "text" must be a string/);
    fails(() => readSplit(split(['{"file_name": "a.png", "text": "x", "captions": []}'])), /line 1: "captions" must be a non-empty list/);
    fails(() => readSplit(split(['{"file_name": "../a.png", "text": "x"}'])), /line 1: file_name "\.\.\/a\.png" must be a relative path inside/);
    fails(() => readSplit(split(['{"file_name": "a.png", "text": "x"}', "", '{"file_name": "a.png", "text": "y"}'])), /line 3: file_name "a\.png" is already listed on line 1/);
  });

  test("a missing image is named with its line", () => {
    fails(() => readSplit(split(['{"file_name": "a.png", "text": "x"}', '{"file_name": "b.png", "text": "y"}'])), /line 2: image b\.png not found/);
  });

  test("references fall back to [text]; sub-folder file names work", () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, "img"));
    const items = readSplit(split(['{"file_name": "img/a.png", "text": "a caption"}'], ["img/a.png"], dir)).items;
    assert.deepEqual(items, [{ id: "img/a.png", file: path.join(dir, "img/a.png"), text: "a caption", references: ["a caption"] }]);
  });

  test("split choice: unknown split, --split on a split folder, test before train, aliases", () => {
    fails(() => openDataset(shapes, { split: "test" }), /has no split "test"; its splits are: train, validation/);
    fails(() => openDataset(path.join(shapes, "validation"), { split: "train" }), /is a single split .* drop --split train/);
    const root = tmp();
    for (const name of ["train", "test"]) split(['{"file_name": "a.png", "text": "x"}'], ["a.png"], path.join(root, name));
    assert.equal(openDataset(root).name, "test");
    const other = tmp();
    split(['{"file_name": "a.png", "text": "x"}'], ["a.png"], path.join(other, "holdout"));
    fails(() => openDataset(other), /no validation, test or train split; choose one of its splits with --split: holdout/);
    assert.equal(openDataset(other, { split: "holdout" }).items.length, 1);
    // The folder names `datasets` reads as validation count as validation, ahead of train.
    const aliased = tmp();
    for (const name of ["training", "dev"]) split(['{"file_name": "a.png", "text": "x"}'], ["a.png"], path.join(aliased, name));
    assert.equal(openDataset(aliased).name, "dev");
  });
});
