/**
 * Decoding that keeps alpha, for what looks at an image's colours rather than feeding the model.
 * The model path (`decodeImage`) must match Pillow's `convert("RGB")`, which drops alpha without
 * compositing, so a transparent PNG's hidden RGB (often black) would count as a dominant colour.
 * Here every format goes through sharp with its alpha band kept (palette tRNS, LA, RGBA, WebP
 * alpha, GIF transparency); pixel-exactness with Pillow does not matter for a palette.
 */
import sharp from "sharp";
import { decodeImage, sniffImageFormat } from "./image.js";
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
