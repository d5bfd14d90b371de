// The decode path for colours (alpha kept) and EXIF orientation on request: the model's decode is
// untouched by default, a transposed file decodes to the rotated Pillow pixels.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { decodeImage } from "../../src/preprocess/image.js";
import { exifOrientation, exifTransposed, orient } from "../../src/preprocess/orientation.js";
import { decodeImageRgba, rgbMatchesRgba } from "../../src/preprocess/rgba.js";
import { goldenImage, goldenModel } from "../helpers/app.js";
import { repoRoot } from "../helpers/golden.js";

test("orient: Pillow's exif_transpose for the eight orientations of a 3×2 image", () => {
  // Pixels 0..5 row-major; one byte value per pixel, repeated over RGB.
  const img = { width: 3, height: 2, data: Uint8Array.from([0, 1, 2, 3, 4, 5].flatMap((v) => [v, v, v])) };
  const grid = (o: number) => {
    const r = orient(img, o);
    return Array.from({ length: r.height }, (_, y) => Array.from({ length: r.width }, (_, x) => r.data[(y * r.width + x) * 3]));
  };
  assert.deepEqual(grid(1), [[0, 1, 2], [3, 4, 5]]);
  assert.deepEqual(grid(2), [[2, 1, 0], [5, 4, 3]]);
  assert.deepEqual(grid(3), [[5, 4, 3], [2, 1, 0]]);
  assert.deepEqual(grid(4), [[3, 4, 5], [0, 1, 2]]);
  assert.deepEqual(grid(5), [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(grid(6), [[3, 0], [4, 1], [5, 2]]);
  assert.deepEqual(grid(7), [[5, 2], [4, 1], [3, 0]]);
  assert.deepEqual(grid(8), [[2, 5], [1, 4], [0, 3]]);
});

test("exifTransposed: an orientation-6 JPEG becomes the rotated model pixels; others are left as they are", async () => {
  const photo = goldenImage("exif_orientation6_jpeg.jpg");
  assert.equal(await exifOrientation(photo), 6);
  const stored = await decodeImage(photo);
  const upright = await decodeImage(await exifTransposed(photo));
  assert.deepEqual([upright.width, upright.height], [stored.height, stored.width]);
  assert.deepEqual(upright.data, orient(stored, 6).data);
  const plain = goldenImage("rgb_square.png");
  assert.equal(await exifTransposed(plain), plain);
  const rgba = await decodeImageRgba(photo, { exifTranspose: true });
  assert.deepEqual([rgba.width, rgba.height], [stored.height, stored.width]);
});

test("decodeImageRgba keeps alpha, and refuses what decodeImage refuses", async () => {
  const rgba = await decodeImageRgba(goldenImage("rgba_transparent.png"));
  assert.equal(rgba.data.length, rgba.width * rgba.height * 4);
  assert.ok(rgba.data.some((_, i) => i % 4 === 3 && rgba.data[i]! < 255), "some pixels are transparent");
  const opaque = await decodeImageRgba(goldenImage("rgb_square.png"));
  assert.ok(opaque.data.every((v, i) => i % 4 !== 3 || v === 255));
  await assert.rejects(decodeImageRgba(new Uint8Array(0)), /empty/);
  await assert.rejects(decodeImageRgba(Buffer.from("hello world")), /not a recognised image/);
  await assert.rejects(decodeImageRgba(goldenImage("rgb_square.png"), { maxPixels: 10 }), /more than the limit of 10/);
});

test("rgbMatchesRgba: where it says so, the model's RGB decode and its alpha plane (or full opacity) are the RGBA decode (hard-case fixtures and golden images)", async () => {
  const dirs = [path.join(repoRoot, "test/fixtures/images/files"), path.join(goldenModel, "images")];
  const verdicts = new Map<string, boolean>();
  for (const dir of dirs) {
    for (const file of readdirSync(dir)) {
      const bytes = new Uint8Array(readFileSync(path.join(dir, file)));
      const matches = rgbMatchesRgba(bytes);
      verdicts.set(file, matches);
      // Damaged files sharp refuses (decodeImage forgives them, as Pillow does) have nothing to compare.
      const rgba = await decodeImageRgba(bytes).catch(() => undefined);
      if (!rgba) continue;
      if (!matches) continue;
      const rgb = await decodeImage(bytes);
      assert.deepEqual([rgb.width, rgb.height], [rgba.width, rgba.height], file);
      let differing = 0;
      let alphaDiffering = 0;
      for (let p = 0; p < rgb.width * rgb.height; p++) {
        for (let c = 0; c < 3; c++) if (rgb.data[p * 3 + c] !== rgba.data[p * 4 + c]) differing++;
        if ((rgb.alpha?.[p] ?? 255) !== rgba.data[p * 4 + 3]) alphaDiffering++;
      }
      assert.equal(differing, 0, `${file}: RGB samples that differ between the decoders`);
      assert.equal(alphaDiffering, 0, `${file}: alpha samples that differ between the decoders`);
    }
  }
  // Useful: the common opaque layouts qualify.
  for (const file of ["large_1000x700_jpeg.jpg", "jpeg_gray.jpg", "jpeg_progressive.jpg", "rgb_square.png", "png_interlaced_rgb8.png", "png_gray4.png", "png_pal1.png", "png_la8.png", "png_rgba8_multi_idat.png", "webp_lossy.webp", "webp_lossless.webp", "webp_lossy_alpha.webp", "webp_lossless_alpha.webp"]) {
    assert.equal(verdicts.get(file), true, file);
  }
  // The pitfalls do not: Pillow's CMYK formula, 16-bit clipping, a short palette, tRNS, GIF, animation.
  for (const file of ["jpeg_cmyk_adobe.jpg", "png_gray16.png", "png_rgb16.png", "png_rgba16.png", "png_pal4_short_plte.png", "png_rgb_trns.png", "png_pal8_alpha_trns.png", "gif_no_palette.gif", "webp_animated.webp"]) {
    assert.equal(verdicts.get(file), false, file);
  }
});
