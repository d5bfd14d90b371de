/**
 * Decoding that keeps alpha, for what looks at an image's colours rather than feeding the model.
 * The model path (`decodeImage`) must match Pillow's `convert("RGB")`, which drops alpha without
 * compositing, so a transparent PNG's hidden RGB (often black) would count as a dominant colour.
 * Here every format goes through sharp with its alpha band kept (palette tRNS, LA, RGBA, WebP
 * alpha, GIF transparency); pixel-exactness with Pillow does not matter for a palette.
 */
import sharp from "sharp";
import { decodeImage, sniffImageFormat } from "./image.js";
import { readJpegHeader } from "./decoders/sharp_formats.js";
import { type DecodeLimits, DEFAULT_MAX_PIXELS, ImageDecodeError, checkDimensions, truncated } from "./decoders/types.js";

/** An 8-bit RGBA image, rows top to bottom, pixels interleaved: `data.length === width * height * 4`. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
  channels: 4;
}

export interface RgbaDecodeOptions extends DecodeLimits {
  /** Rotate/mirror as the EXIF orientation says (Pillow's `ImageOps.exif_transpose`); default false. */
  exifTranspose?: boolean;
}

/**
 * Decodes image bytes to RGBA (opaque formats get alpha 255). Refuses what `decodeImage` refuses,
 * with the same {@link ImageDecodeError} messages.
 * @example const { width, height, data } = await decodeImageRgba(await readFile("logo.png")); // data: HWC RGBA
 */
export async function decodeImageRgba(bytes: Uint8Array, options: RgbaDecodeOptions = {}): Promise<RgbaImage> {
  // Unknown formats and empty files: let the model's decoder phrase the refusal.
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || sniffImageFormat(bytes) === undefined) {
    await decodeImage(bytes, options);
  }
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, ignoreIcc: true, autoOrient: options.exifTranspose ?? false, failOn: "truncated" })
      .ensureAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), channels: 4 };
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    if (/pixel limit/i.test(message)) {
      const meta = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => undefined);
      checkDimensions(sniffImageFormat(bytes)!.toUpperCase(), meta?.width ?? maxPixels + 1, meta?.height ?? 1, { maxPixels });
    }
    const format = sniffImageFormat(bytes)!.toUpperCase();
    if (/premature end|truncat|end of file|unexpected end|not enough data/i.test(message)) throw truncated(format, message);
    throw new ImageDecodeError(`The ${format} file is corrupt (${message}).`, "Send an undamaged file.");
  }
}

/**
 * True when `decodeImage(bytes)` gives exactly the pixels `decodeImageRgba(bytes)` gives: the same
 * RGB, and its `alpha` plane (when it keeps one) or else 255 everywhere — no transparency dropped,
 * no 16-bit clipping or CMYK formula on the way. Then colour work can take the caption path's
 * decode instead of decoding the file again (when both decoders accept the file; decodeImage
 * forgives some damage sharp refuses). From the headers alone (microseconds), false when unsure.
 * Qualify: grey or YCbCr JPEGs; PNGs of grey (≤ 8 bits), 8-bit RGB, a full palette table (all
 * without tRNS), or 8-bit grey+alpha or RGBA; still WebPs. Not: CMYK JPEGs, 16-bit PNGs (Pillow
 * clips), short palettes (decoders fill missing entries differently), tRNS, animated WebPs, GIFs
 * (transparency may hide in any frame).
 */
export function rgbMatchesRgba(bytes: Uint8Array): boolean {
  try {
    switch (sniffImageFormat(bytes)) {
      case "jpeg":
        return [1, 3].includes(readJpegHeader(bytes).components);
      case "png":
        return matchingPng(bytes);
      case "webp":
        return stillWebp(bytes);
      default:
        return false;
    }
  } catch {
    return false; // a header the decoders will refuse anyway
  }
}

/**
 * The largest bit depth per PNG colour type whose pixels decode alike in both paths: grey, RGB,
 * palette, and grey+alpha and RGBA (whose alpha decodePng keeps on the side at 8 bits).
 */
const MATCHING_PNG_DEPTH: Readonly<Record<number, number>> = { 0: 8, 2: 8, 3: 8, 4: 8, 6: 8 };

function matchingPng(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // IHDR is the first chunk: its data starts at 16 (bit depth at 24, colour type at 25).
  if (bytes.length < 33) return false;
  const [bitDepth, colorType] = [bytes[24], bytes[25]];
  if (!(bitDepth <= (MATCHING_PNG_DEPTH[colorType] ?? 0))) return false;
  let paletteEntries = 0;
  // PLTE and tRNS (transparency for grey, RGB or palette entries) come before the first IDAT.
  for (let pos = 8; pos + 8 <= bytes.length; ) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    if (type === "tRNS") return false;
    if (type === "PLTE") paletteEntries = length / 3;
    if (type === "IDAT") return colorType !== 3 || paletteEntries >= 1 << bitDepth;
    pos += 12 + length;
  }
  return false;
}

/** Both paths decode WebP with sharp, and decodeWebp keeps the alpha band; only animations are left out. */
function stillWebp(bytes: Uint8Array): boolean {
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk === "VP8 " || chunk === "VP8L") return true;
  // VP8X: the flags byte; 0x02 marks an animation.
  return chunk === "VP8X" && bytes.length > 20 && (bytes[20] & 0x02) === 0;
}
