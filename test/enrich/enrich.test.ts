import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

import { EarlyColors, Restyler, colorsOf, enrich, enrichAndDescribe, parseLlmConfig, warmUpEnrichment } from "../../src/enrich/index.js";
import { decodeImage } from "../../src/preprocess/image.js";
import { decodeImageRgba } from "../../src/preprocess/rgba.js";
import { repoRoot } from "../helpers/golden.js";

const picture = path.resolve(repoRoot, "../shared/datasets/shapes/train/000000.png"); // two small blue circles on a red background

test("enrich + fallback description has the --json shape, palette largest first, tags from caption and colours", async () => {
  const image = await decodeImage(readFileSync(picture));
  const result = await enrichAndDescribe(image, ["two small blue circles on a red background", "a red background and two small blue circles"], new Restyler(parseLlmConfig({}, {})), {
    style: "alt-text",
  });
  assert.deepEqual(Object.keys(result), ["caption", "tags", "colors", "description"]);
  assert.deepEqual(Object.keys(result.colors), ["palette", "foreground", "background", "accent", "grayscale"]);
  for (const swatch of result.colors.palette) assert.deepEqual(Object.keys(swatch), ["hex", "rgb", "share", "name", "family"]);
  for (const tag of result.tags) assert.deepEqual(Object.keys(tag), ["tag", "score", "source"]);
  assert.equal(result.caption, "two small blue circles on a red background");
  assert.deepEqual(
    result.colors.palette.map((s) => s.family),
    ["red", "blue"],
  );
  const tags = Object.fromEntries(result.tags.map((t) => [t.tag, [t.source, t.score]]));
  assert.deepEqual(tags.circle, ["noun", 1]);
  assert.deepEqual(tags["blue circle"], ["adjective-noun", 1]);
  assert.equal(tags.red[0], "color");
  assert.equal(tags.blue[0], "color");
  assert.deepEqual(result.description, {
    style: "alt-text",
    text: "Two small blue circles on a red background.",
    llm: { used: false, reason: "not_configured", detail: "No LLM endpoint is configured (llm.baseURL / CAPTIONER_LLM_BASE_URL)." },
  });
  // The result must survive JSON as is (no typed arrays, no undefined-only fields that vanish).
  assert.deepEqual(JSON.parse(JSON.stringify(result)), result);
});

test("enrich needs a caption", () => {
  warmUpEnrichment();
  assert.throws(() => enrich({ width: 1, height: 1, data: new Uint8Array(3) }, []), /at least one caption/);
});

test("EarlyColors: colours from the caption path's decode equal the RGBA decode's (JPEG, RGBA PNG with its alpha plane, shapes PNG); a tRNS palette is left to the RGBA decode", async () => {
  const golden = (file: string) => new Uint8Array(readFileSync(path.resolve(repoRoot, "../shared/golden/blip/base_like_32px/images", file)));
  const images = [golden("large_1000x700_jpeg.jpg"), golden("rgba_transparent.png"), new Uint8Array(readFileSync(picture)), golden("palette_P.png")];
  const early = new EarlyColors();
  const hook = early.hook(images);
  for (const [i, bytes] of images.entries()) hook(await decodeImage(bytes), i);
  for (const i of [0, 1, 2]) {
    const colors = early.colorsOf(i);
    assert.ok(colors && colors.palette.length > 0, `image ${i}`);
    assert.deepEqual(colors, colorsOf(await decodeImageRgba(images[i]!)), `image ${i}`);
  }
  // The transparent PNG's hidden RGB differs from what shows: without its alpha the palette would differ.
  const rgbOnly = await decodeImage(images[1]!);
  assert.notDeepEqual(colorsOf({ width: rgbOnly.width, height: rgbOnly.height, data: rgbOnly.data }), early.colorsOf(1));
  assert.deepEqual(early.colorsOf(2)?.palette.map((s) => s.family), ["red", "blue"]);
  assert.equal(early.colorsOf(3), undefined, "tRNS: the RGB decode drops transparency it does not keep");
  assert.equal(early.colorsOf(4), undefined, "never decoded");
});
