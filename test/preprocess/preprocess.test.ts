/**
 * Image preprocessing against Pillow 9.4 + transformers 4.40:
 * - every image of the four golden BLIP cases (decoded RGB, PIL-bicubic resize, pixel_values ≤ 1e-6);
 * - the hard-case fixtures written by test/fixtures/images/make_fixtures.py with Pillow 9.4 as the oracle
 *   (JPEG progressive/CMYK/grey/4:2:2/4:4:4, PNG bit depths/palettes/interlace, WebP, GIF first frame,
 *   1×1 and 3000×2000, other resampling filters and target sizes);
 * - bad input: empty, truncated, not an image, unsupported, too many pixels;
 * - preprocessor_config.json parsing (defaults, bare-int size, unknown keys, bad values).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { ImageDecodeError, decodeImage, sniffImageFormat } from "../../src/preprocess/image.js";
import {
  ImageProcessorConfigError,
  defaultImageProcessorConfig,
  parseImageProcessorConfig,
  preprocessImage,
  toPixelValues,
} from "../../src/preprocess/image_processor.js";
import { resizeBicubic, resizePil } from "../../src/preprocess/resize.js";

const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/blip/", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/images/", import.meta.url));
const CASES = ["base_like_32px", "odd_36px_patch8", "deep_48px_patch16", "legacy_files_24px"];

interface ArrayRef {
  file: string | null;
  dtype: string;
  shape: number[];
  stats: { sha256: string; sum: number };
}
interface GoldenImage {
  name: string;
  file: string;
  width: number;
  height: number;
  decoded_rgb_uint8: ArrayRef;
  resized_rgb_uint8: ArrayRef;
  pixel_values: ArrayRef;
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const readJson = (path: string): any => JSON.parse(readFileSync(path, "utf8"));

function readFloat32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Index and values of the first differing byte, for a readable failure. */
function firstDifference(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return `lengths ${a.length} vs ${b.length}`;
}

function assertBytes(actual: Uint8Array, ref: ArrayRef, dir: string, what: string): void {
  if (ref.file) {
    const expected = new Uint8Array(readFileSync(dir + ref.file));
    assert.ok(Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0, `${what}: ${firstDifference(actual, expected)}`);
  } else {
    assert.equal(sha256(actual), ref.stats.sha256, `${what}: sha256 of the bytes`);
  }
}

describe("golden BLIP cases (Pillow 9.4 + transformers 4.40)", () => {
  for (const name of CASES) {
    const dir = `${GOLDEN}${name}/`;
    const expected = readJson(`${dir}expected.json`);

    test(`${name}: preprocessor_config.json resolves like BlipImageProcessor`, () => {
      const cfg = parseImageProcessorConfig(readJson(`${dir}preprocessor_config.json`));
      const ref = expected.image_processor;
      assert.deepEqual(cfg, {
        size: ref.size,
        resample: ref.resample,
        doResize: ref.do_resize,
        doRescale: ref.do_rescale,
        rescaleFactor: ref.rescale_factor,
        doNormalize: ref.do_normalize,
        imageMean: ref.image_mean,
        imageStd: ref.image_std,
        doConvertRgb: ref.do_convert_rgb,
      });
    });

    const cfg = parseImageProcessorConfig(readJson(`${dir}preprocessor_config.json`));
    for (const img of expected.images as GoldenImage[]) {
      test(`${name}/${img.name}: decoded, resized and pixel_values match`, async () => {
        const bytes = readFileSync(dir + img.file);
        const decoded = await decodeImage(bytes);
        assert.deepEqual([decoded.height, decoded.width, 3], img.decoded_rgb_uint8.shape);
        assertBytes(decoded.data, img.decoded_rgb_uint8, dir, "decoded_rgb_uint8");

        const resized = resizeBicubic(decoded, cfg.size.width, cfg.size.height);
        assertBytes(resized.data, img.resized_rgb_uint8, dir, "resized_rgb_uint8");

        const pixels = await preprocessImage(bytes, cfg);
        const ref = readFloat32(dir + img.pixel_values.file!);
        assert.equal(pixels.length, ref.length);
        let maxDiff = 0;
        for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pixels[i] - ref[i]));
        assert.ok(maxDiff <= 1e-6, `pixel_values max abs diff ${maxDiff}`);
      });
    }
  }
});

interface FixtureEntry {
  mode: string;
  width: number;
  height: number;
  decoded_rgb: { sha256: string; sum: number };
  resized: Array<{ width: number; height: number; resample: number; sha256: string; sum: number }>;
}

const sum = (b: Uint8Array): number => b.reduce((s, v) => s + v, 0);

describe("hard-case fixtures (oracle: Pillow 9.4, make_fixtures.py)", () => {
  const manifest = readJson(`${FIXTURES}expected.json`);
  for (const [file, entry] of Object.entries(manifest.images as Record<string, FixtureEntry>)) {
    test(`${file} (Pillow mode ${entry.mode}, ${entry.width}x${entry.height})`, async () => {
      const decoded = await decodeImage(readFileSync(`${FIXTURES}files/${file}`));
      assert.deepEqual([decoded.width, decoded.height], [entry.width, entry.height]);
      assert.equal(decoded.data.length, entry.width * entry.height * 3);
      assert.equal(sum(decoded.data), entry.decoded_rgb.sum, "decoded RGB: sum of bytes");
      assert.equal(sha256(decoded.data), entry.decoded_rgb.sha256, "decoded RGB: sha256");
      for (const r of entry.resized) {
        const out = resizePil(decoded, r.width, r.height, r.resample);
        const what = `resize to ${r.width}x${r.height} with filter ${r.resample}`;
        assert.equal(sum(out.data), r.sum, `${what}: sum of bytes`);
        assert.equal(sha256(out.data), r.sha256, `${what}: sha256`);
      }
    });
  }
});

async function decodeError(bytes: Uint8Array, limits?: { maxPixels?: number }): Promise<ImageDecodeError> {
  try {
    await decodeImage(bytes, limits);
  } catch (err) {
    assert.ok(err instanceof ImageDecodeError, `expected ImageDecodeError, got ${String(err)}`);
    return err;
  }
  assert.fail("decoding should have failed");
}

function pngWithSize(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.alloc(16))), chunk("IEND", Buffer.alloc(0))]);
}

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const v of b) {
    c ^= v;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

describe("bad input gives ImageDecodeError with advice", () => {
  const dir = `${FIXTURES}errors/`;
  const cases: Record<string, RegExp> = {
    "zero_bytes.png": /empty \(0 bytes\)/,
    "not_an_image.txt": /not a recognised image/,
    "truncated.jpg": /JPEG file is truncated/,
    "truncated.png": /PNG file is truncated/,
    "truncated_header.png": /PNG file is truncated/,
    "unsupported.bmp": /BMP images are not supported.*PNG or JPEG/,
    "truncated.gif": /GIF file is truncated/,
    "gif_frame_data_ends_early.gif": /GIF file is truncated.*stops after 20 of 40 pixels/,
    "truncated.webp": /WebP file is truncated/,
    "png_image_data_stops_mid_row.png": /PNG file is truncated.*middle of a row/,
    "png_zlib_stream_cut.png": /PNG file is truncated.*ends early/,
  };
  test("every file in errors/ is covered", () => {
    assert.deepEqual(readdirSync(dir).sort(), Object.keys(cases).sort());
  });
  for (const [file, pattern] of Object.entries(cases)) {
    test(file, async () => {
      const err = await decodeError(readFileSync(dir + file));
      assert.match(err.message, pattern);
      assert.match(err.message, /Send|Convert|Pass/);
    });
  }

  test("too many pixels is refused from the header, before decoding", async () => {
    const err = await decodeError(pngWithSize(100_000, 100_000));
    assert.match(err.message, /100000x100000 = 10000000000 pixels, more than the limit of 50000000/);
    for (const file of ["jpeg_420_odd.jpg", "webp_lossy.webp", "gif_animated_pillow.gif", "png_rgb16.png"]) {
      const e = await decodeError(readFileSync(`${FIXTURES}files/${file}`), { maxPixels: 100 });
      assert.match(e.message, /more than the limit of 100/, file);
    }
  });

  test("a zero-sized PNG header is refused", async () => {
    assert.match((await decodeError(pngWithSize(0, 5))).message, /empty image size/);
  });

  test("a corrupt chunk checksum is refused", async () => {
    const bytes = new Uint8Array(readFileSync(`${FIXTURES}files/png_1x1.png`));
    bytes[20] ^= 0xff; // inside IHDR
    assert.match((await decodeError(bytes)).message, /bad checksum in chunk IHDR/);
  });

  test("bytes given as a view into a larger buffer decode the same", async () => {
    for (const file of ["png_interlaced_rgb8.png", "jpeg_422.jpg", "gif_animated_pillow.gif", "webp_lossy.webp"]) {
      const bytes = readFileSync(`${FIXTURES}files/${file}`);
      const padded = new Uint8Array(bytes.length + 7);
      padded.set(bytes, 5);
      const a = await decodeImage(bytes);
      const b = await decodeImage(padded.subarray(5, 5 + bytes.length));
      assert.deepEqual(b, a, file);
    }
  });

  test("format sniffing uses magic bytes", () => {
    assert.equal(sniffImageFormat(readFileSync(`${FIXTURES}files/webp_lossless.webp`)), "webp");
    assert.equal(sniffImageFormat(readFileSync(`${FIXTURES}files/gif_no_palette.gif`)), "gif");
    assert.equal(sniffImageFormat(new Uint8Array([1, 2, 3])), undefined);
  });
});

describe("preprocessor_config.json parsing", () => {
  test("an empty object gives the 4.40 defaults", () => {
    assert.deepEqual(parseImageProcessorConfig({}), defaultImageProcessorConfig());
    assert.deepEqual(defaultImageProcessorConfig().size, { height: 384, width: 384 });
  });
  test("bare-int size, [h, w] size, scalar mean, unknown keys and nulls", () => {
    const cfg = parseImageProcessorConfig({ size: 24, image_mean: 0.5, _valid_processor_keys: ["x"], resample: null, foo: 1 });
    assert.deepEqual(cfg.size, { height: 24, width: 24 });
    assert.deepEqual(cfg.imageMean, [0.5, 0.5, 0.5]);
    assert.equal(cfg.resample, 3);
    assert.deepEqual(parseImageProcessorConfig({ size: [20, 30] }).size, { height: 20, width: 30 });
  });
  test("bad values name the key", () => {
    const bad: Array<[unknown, RegExp]> = [
      [[], /JSON object/],
      [{ size: { shortest_edge: 224 } }, /size must be an integer or \{"height"/],
      [{ size: -3 }, /size must be a positive integer/],
      [{ resample: 7 }, /resample must be a Pillow filter number/],
      [{ do_resize: "yes" }, /do_resize must be true or false/],
      [{ image_std: [1, 2] }, /image_std must be a number or a list of 3/],
      [{ image_std: [1, 0, 1] }, /must not contain 0/],
      [{ rescale_factor: "1/255" }, /rescale_factor must be a number/],
    ];
    for (const [json, pattern] of bad) assert.throws(() => parseImageProcessorConfig(json), (e: unknown) => e instanceof ImageProcessorConfigError && pattern.test(e.message));
  });
  test("do_resize=false and do_normalize=false keep the image size and give x/255", () => {
    const img = { width: 2, height: 1, data: new Uint8Array([0, 51, 255, 255, 102, 1]) };
    const cfg = { ...defaultImageProcessorConfig(), doResize: false, doNormalize: false };
    assert.deepEqual(Array.from(toPixelValues(img, cfg)), [0, 1, 0.2, 0.4, 1, 1 / 255].map(Math.fround));
  });
});

test("speed: a 1000x700 JPEG to 384x384 pixel_values", async () => {
  const bytes = readFileSync(`${GOLDEN}base_like_32px/images/large_1000x700_jpeg.jpg`);
  const cfg = defaultImageProcessorConfig();
  await preprocessImage(bytes, cfg); // warm-up
  const decoded = await decodeImage(bytes);
  const t0 = performance.now();
  const runs = 5;
  for (let i = 0; i < runs; i++) toPixelValues(decoded, cfg);
  const resizeMs = (performance.now() - t0) / runs;
  const t1 = performance.now();
  await preprocessImage(bytes, cfg);
  const totalMs = performance.now() - t1;
  // Generous bounds: the machine is shared; typical figures are printed for the record.
  console.log(`resize+normalise ${resizeMs.toFixed(1)} ms, decode+resize+normalise ${totalMs.toFixed(1)} ms`);
  assert.ok(resizeMs < 200, `resize+normalise took ${resizeMs} ms`);
});
