/**
 * colorsOf on images whose colours are known: every picture of the shapes dataset (colours named by
 * its captions), and synthetic RGB/RGBA images built here (transparency, greyscale, centring, limits).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

import { type ImageColors, type PixelImage, colorsOf, sampleColors } from "../../src/enrich/colors.js";
import { decodeImage } from "../../src/preprocess/image.js";
import { repoRoot } from "../helpers/golden.js";

const shapesRoot = path.resolve(repoRoot, "../shared/datasets/shapes");
const SHAPE_COLORS = ["red", "white", "orange", "yellow", "brown", "black", "green", "blue"];

interface ShapesItem {
  file: string;
  caption: string;
  background: string;
  shapeColors: string[];
  /** Two-shape items have small shapes only; "a small …" says so for single ones. */
  allShapesSmall: boolean;
}

function shapesItems(split: "train" | "validation"): ShapesItem[] {
  const lines = readFileSync(path.join(shapesRoot, split, "metadata.jsonl"), "utf8").trim().split("\n");
  return lines.map((line) => {
    const { file_name, text } = JSON.parse(line) as { file_name: string; text: string };
    const [, shapesPart, background] = /^(.*) on a (\w+) background$/.exec(text)!;
    return {
      file: path.join(shapesRoot, split, file_name),
      caption: text,
      background,
      shapeColors: [...new Set(shapesPart.split(" ").filter((w) => SHAPE_COLORS.includes(w)))],
      allShapesSmall: !shapesPart.includes("large"),
    };
  });
}

/** A solid RGBA canvas with rectangles painted on it. */
function canvas(width: number, height: number, fill: [number, number, number, number]) {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set(fill, i * 4);
  const image: PixelImage & { paint: typeof paint } = { width, height, data, channels: 4, paint };
  function paint(x0: number, y0: number, w: number, h: number, rgba: [number, number, number, number]) {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data.set(rgba, (y * width + x) * 4);
    return image;
  }
  return image;
}

const families = (colors: ImageColors) => colors.palette.map((swatch) => swatch.family);

describe("colorsOf on the shapes dataset (700 pictures, colours from the captions)", () => {
  for (const split of ["train", "validation"] as const) {
    test(`${split}: background, shape colours, families, order and greyscale match the caption`, async () => {
      const items = shapesItems(split);
      let backgroundOnTop = 0;
      for (const item of items) {
        const colors = colorsOf(await decodeImage(readFileSync(item.file)));
        const where = `${item.file}: "${item.caption}" → ${JSON.stringify(colors.palette.map((s) => [s.name, s.family, s.share]))}`;
        assert.equal(colors.background?.family, item.background, where);
        assert.deepEqual(families(colors).sort(), [item.background, ...item.shapeColors].sort(), where);
        assert.notEqual(colors.foreground, null, where);
        assert.ok(item.shapeColors.includes(colors.foreground!.family), where);
        const shares = colors.palette.map((s) => s.share);
        assert.deepEqual(shares, [...shares].sort((a, b) => b - a), `palette sorted by share, ${where}`);
        assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-3, where);
        const neutralOnly = [item.background, ...item.shapeColors].every((c) => c === "black" || c === "white");
        assert.equal(colors.grayscale, neutralOnly, where);
        if (item.allShapesSmall) {
          assert.equal(colors.palette[0].family, item.background, `small shapes leave the background on top, ${where}`);
          backgroundOnTop++;
        }
      }
      assert.ok(backgroundOnTop > items.length / 2, "most items have small shapes, so the top-colour check ran");
    });
  }

  test("a picture's numbers: hex and rgb agree, rgb is the noise-free colour within the noise, share is the pixel count", async () => {
    // train/000000: two small blue circles on a red background; red is (220, 30, 30) before ±6 noise.
    const colors = colorsOf(await decodeImage(readFileSync(path.join(shapesRoot, "train", "000000.png"))));
    const red = colors.palette[0];
    assert.equal(red.family, "red");
    red.rgb.forEach((v, i) => assert.ok(Math.abs(v - [220, 30, 30][i]) <= 2, `channel ${i}: ${v}`));
    assert.equal(red.hex, `#${red.rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`);
    assert.equal(colors.background, red);
    assert.equal(colors.accent?.family, "blue", "the accent is the most chromatic colour that is not the background");
  });
});

describe("colorsOf on synthetic images", () => {
  test("transparent pixels are not seen, whatever RGB they carry; a transparent border means no background", () => {
    // Junk green under alpha 0 (some encoders leave the last colour there).
    const logo = canvas(100, 100, [0, 255, 0, 0]).paint(30, 30, 40, 40, [200, 20, 20, 255]);
    const colors = colorsOf(logo);
    assert.deepEqual(
      colors.palette.map((s) => [s.family, s.share]),
      [["red", 1]],
    );
    assert.equal(colors.background, null);
    assert.equal(colors.foreground?.family, "red");
  });

  test("a half-transparent pixel counts half", () => {
    const image = canvas(90, 60, [0, 0, 230, 255]).paint(45, 0, 45, 60, [250, 230, 0, 128]);
    const shares = Object.fromEntries(colorsOf(image).palette.map((s) => [s.family, s.share]));
    assert.ok(Math.abs(shares.blue - 255 / (255 + 128)) < 0.01, JSON.stringify(shares));
    assert.ok(Math.abs(shares.yellow - 128 / (255 + 128)) < 0.01, JSON.stringify(shares));
  });

  test("a fully transparent image has no colours", () => {
    assert.deepEqual(colorsOf(canvas(10, 10, [9, 9, 9, 0])), { palette: [], foreground: null, background: null, accent: null, grayscale: false });
  });

  test("a grey gradient is greyscale with no accent; a red patch of 2 % makes it colourful and the accent", () => {
    const gradient = canvas(256, 64, [0, 0, 0, 255]);
    for (let x = 0; x < 256; x++) gradient.paint(x, 0, 1, 64, [x, x, x, 255]);
    const grey = colorsOf(gradient);
    assert.equal(grey.grayscale, true);
    assert.equal(grey.accent, null);
    assert.ok(grey.palette.every((s) => ["black", "gray", "white"].includes(s.family)), JSON.stringify(families(grey)));
    assert.ok(grey.palette.length > 1, "a gradient is more than one colour");

    const withRed = colorsOf(gradient.paint(100, 20, 23, 14, [220, 20, 30, 255]));
    assert.equal(withRed.grayscale, false);
    assert.equal(withRed.accent?.family, "red");
  });

  test("greyscale agrees with the name table: slate grey is neutral, sepia is not", () => {
    const slate = colorsOf(canvas(20, 20, [112, 128, 144, 255]));
    assert.deepEqual([slate.palette[0].name, slate.grayscale], ["slategray", true]);
    const sepia = colorsOf(canvas(20, 20, [112, 66, 20, 255]));
    assert.deepEqual([sepia.palette[0].family, sepia.grayscale], ["brown", false]);
  });

  test("an RGB image (decodeImage's 3-channel layout) works without a channels field", () => {
    const data = new Uint8Array(20 * 10 * 3);
    for (let i = 0; i < 200; i++) data.set(i % 20 < 10 ? [255, 165, 0] : [128, 0, 128], i * 3);
    const colors = colorsOf({ width: 20, height: 10, data });
    assert.deepEqual(colors.palette.map((s) => [s.name, s.share]).sort(), [["orange", 0.5], ["purple", 0.5]]);
  });

  test("a one-colour image has a background and no foreground", () => {
    const colors = colorsOf(canvas(32, 32, [255, 192, 203, 255]));
    assert.equal(colors.background?.name, "pink");
    assert.equal(colors.foreground, null);
    assert.equal(colors.accent, null, "the only colour is the background");
  });

  test("the foreground is the centred subject, not an equal-sized patch off-centre", () => {
    const image = canvas(100, 100, [245, 245, 245, 255]).paint(45, 45, 12, 12, [30, 60, 210, 255]).paint(8, 10, 12, 12, [220, 30, 30, 255]);
    const colors = colorsOf(image);
    assert.equal(colors.background?.family, "white");
    assert.equal(colors.foreground?.family, "blue");
  });

  test("maxColors caps the palette, keeping the largest colours; the result is deterministic", () => {
    const stripes: Array<[number, number, number, number]> = [
      [255, 0, 0, 255], [0, 128, 0, 255], [0, 0, 255, 255], [255, 255, 0, 255],
      [128, 0, 128, 255], [255, 165, 0, 255], [0, 0, 0, 255], [255, 255, 255, 255],
    ];
    const image = canvas(360, 40, [0, 0, 0, 255]);
    // Widths 80, 70, …, 10: a clear order of size.
    let x = 0;
    stripes.forEach((rgba, i) => {
      image.paint(x, 0, 80 - 10 * i, 40, rgba);
      x += 80 - 10 * i;
    });
    const all = colorsOf(image, { maxColors: 8 });
    assert.equal(all.palette.length, 8);
    const three = colorsOf(image, { maxColors: 3 });
    assert.equal(three.palette.length, 3);
    assert.deepEqual(colorsOf(image, { maxColors: 3 }), three);
    assert.ok(Math.abs(three.palette.reduce((a, s) => a + s.share, 0) - 1) < 1e-3, "every pixel lands in one of the three");
  });

  test("a large image is sampled, and gives the same shares as the full-size one", () => {
    const small = canvas(100, 70, [20, 20, 20, 255]).paint(0, 0, 50, 70, [250, 250, 250, 255]);
    const big = canvas(1000, 700, [20, 20, 20, 255]).paint(0, 0, 500, 700, [250, 250, 250, 255]);
    const shares = (image: PixelImage) => colorsOf(image).palette.map((s) => [s.name, Math.round(s.share * 100)]);
    assert.deepEqual(shares(big), shares(small));
  });

  test("a sample taken early (sampleColors) gives what the image gives: photo, shapes picture, RGBA with transparency, a smaller maxSamples", async () => {
    const photo = await decodeImage(readFileSync(path.join(repoRoot, "../shared/golden/blip/base_like_32px/images/large_1000x700_jpeg.jpg")));
    const shapes = await decodeImage(readFileSync(shapesItems("validation")[0]!.file));
    const cutout = canvas(300, 200, [0, 0, 0, 0]).paint(50, 50, 200, 100, [30, 140, 60, 255]).paint(120, 80, 40, 40, [240, 200, 20, 128]);
    for (const [name, image] of [["photo", photo], ["shapes", shapes], ["cutout", cutout]] as const) {
      const full = colorsOf(image);
      assert.ok(full.palette.length > 0, name);
      assert.deepEqual(colorsOf(sampleColors(image)), full, name);
    }
    assert.deepEqual(colorsOf(sampleColors(photo, { maxSamples: 1000 }), { maxColors: 4 }), colorsOf(photo, { maxSamples: 1000, maxColors: 4 }));
    assert.throws(() => sampleColors(photo, { maxSamples: 10 }), /maxSamples must be an integer from 256/);
  });

  test("bad input and bad options are refused with a message saying what to pass", () => {
    assert.throws(() => colorsOf({ width: 4, height: 4, data: new Uint8Array(10) }), /needs 48 bytes, got 10/);
    assert.throws(() => colorsOf({ width: 0, height: 4, data: new Uint8Array(0) }), /non-empty image/);
    const image = canvas(4, 4, [0, 0, 0, 255]);
    assert.throws(() => colorsOf(image, { maxColors: 0 }), /maxColors must be an integer from 1 to 16 \(got 0\)/);
    assert.throws(() => colorsOf(image, { maxSamples: 2.5 }), /maxSamples must be an integer/);
  });
});
