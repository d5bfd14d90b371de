import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

import type { ColorSwatch } from "../../src/enrich/colors.js";
import { type Tag, tagsOf } from "../../src/enrich/tags.js";
import { repoRoot } from "../helpers/golden.js";

const tagNames = (tags: Tag[]) => tags.map((t) => t.tag);
const swatch = (family: ColorSwatch["family"], share: number): ColorSwatch => ({ hex: "#000000", rgb: [0, 0, 0], share, name: family, family });

describe("tagsOf on known captions", () => {
  /** caption → its tags in order; the adjective–noun pairs among them. */
  const cases: Array<[string, string[], string[]]> = [
    ["two small blue circles on a red background", ["circle", "blue circle", "small circle"], ["blue circle", "small circle"]],
    ["a man riding a wave on top of a surfboard", ["man", "wave", "surfboard"], []],
    ["arafed dog sitting on a wooden bench in a park", ["dog", "bench", "wooden bench", "park"], ["wooden bench"]],
    ["a close up of a red fire hydrant on a city street", ["fire hydrant", "hydrant", "red fire hydrant", "city street", "street"], ["red fire hydrant"]],
    ["people walking on the sidewalks near tall buildings", ["person", "sidewalk", "building", "tall building"], ["tall building"]],
    ["there is a woman holding an umbrella in the rain", ["woman", "umbrella", "rain"], []],
    ["a plate of food with broccoli and carrots", ["plate", "food", "broccoli", "carrot"], []],
    ["two giraffes standing next to each other in a field", ["giraffe", "field"], []],
    ["a man wearing glasses", ["man", "glasses"], []],
  ];
  for (const [caption, expected, pairs] of cases) {
    test(caption, () => {
      const tags = tagsOf([caption]);
      assert.deepEqual(tagNames(tags), expected);
      assert.ok(tags.every((t) => t.score === 1), "one caption: every tag it has scores 1");
      assert.deepEqual(tagNames(tags.filter((t) => t.source === "adjective-noun")), pairs);
      assert.ok(tags.every((t) => t.source === "noun" || t.source === "adjective-noun"), "no colours given, no colour tags");
    });
  }

  test("several captions: rank-weighted agreement, best caption counting most", () => {
    const tags = tagsOf(["a cat sitting on a red couch", "a cat laying on a couch", "a black and white cat on a sofa"]);
    const score = Object.fromEntries(tags.map((t) => [t.tag, t.score]));
    // Weights 1, 1/2, 1/3 (sum 11/6): cat in all three, couch in the first two, sofa only in the third.
    assert.equal(score.cat, 1);
    assert.equal(score.couch, Math.round(((1 + 1 / 2) / (11 / 6)) * 10_000) / 10_000);
    assert.equal(score["red couch"], Math.round((1 / (11 / 6)) * 10_000) / 10_000);
    assert.equal(score.sofa, Math.round((1 / 3 / (11 / 6)) * 10_000) / 10_000);
    assert.deepEqual(tagNames(tags).slice(0, 3), ["cat", "couch", "red couch"], "sorted by score");
  });

  test("colour families from the palette: summed per family, specks left out, score = share", () => {
    const palette = [swatch("red", 0.6), swatch("red", 0.03), swatch("blue", 0.33), swatch("green", 0.04)];
    const tags = tagsOf(["a red square"], { palette });
    const colours = tags.filter((t) => t.source === "color");
    assert.deepEqual(colours, [
      { tag: "red", score: 0.63, source: "color" },
      { tag: "blue", score: 0.33, source: "color" },
    ]);
    assert.deepEqual(tagNames(tagsOf([], { palette }, { minColorShare: 0.01 })), ["red", "blue", "green"]);
  });

  test("a noun and a colour family with the same word keep one tag, the higher score", () => {
    const tags = tagsOf(["a bowl of oranges"], { palette: [swatch("orange", 0.3), swatch("brown", 0.7)] });
    assert.deepEqual(
      tags.filter((t) => t.tag === "orange"),
      [{ tag: "orange", score: 1, source: "noun" }],
    );
  });

  test("maxTags caps the list; bad options are refused", () => {
    assert.equal(tagsOf(["a dog and a cat and a bird and a horse"], null, { maxTags: 2 }).length, 2);
    assert.throws(() => tagsOf(["a dog"], null, { maxTags: 0 }), /tags option maxTags must be an integer from 1 to 200/);
    assert.throws(() => tagsOf(["a dog"], null, { maxTag: 3 } as never), /tags has no option "maxTag"/);
  });

  test("no captions and no colours: no tags", () => {
    assert.deepEqual(tagsOf([]), []);
    assert.deepEqual(tagsOf(["", "   "]), []);
  });
});

test("every shapes validation caption yields its shapes and colour–shape pairs, singular, and no stop words", () => {
  const metadata = path.resolve(repoRoot, "../shared/datasets/shapes/validation/metadata.jsonl");
  const COLORS = ["red", "white", "orange", "yellow", "brown", "black", "green", "blue"];
  for (const line of readFileSync(metadata, "utf8").trim().split("\n")) {
    for (const caption of (JSON.parse(line) as { captions: string[] }).captions) {
      const tags = tagNames(tagsOf([caption]));
      const words = caption.split(" ");
      words.forEach((word, i) => {
        const shape = word.replace(/s$/, "");
        if (shape !== "square" && shape !== "circle") return;
        assert.ok(tags.includes(shape), `${caption} → ${tags}`);
        if (COLORS.includes(words[i - 1])) assert.ok(tags.includes(`${words[i - 1]} ${shape}`), `${caption} → ${tags}`);
      });
      for (const stop of ["background", "left", "right", "top", "front", "two", "squares", "circles"]) assert.ok(!tags.some((t) => t.split(" ").includes(stop)), `${caption} → ${tags}`);
    }
  }
});
