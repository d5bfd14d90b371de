/**
 * Image decoding with the semantics of Pillow 9.4's `Image.open(f).convert("RGB")`, which is what
 * transformers' BlipImageProcessor sees: alpha dropped without compositing, palettes expanded with
 * transparency ignored, grey replicated, no EXIF rotation, no colour management.
 *
 * PNG and GIF use our own decoders (exact control over bit depths and palettes); JPEG and WebP go through
 * sharp, whose libjpeg-turbo / libwebp decoders give Pillow's pixels exactly (see decoders/sharp_formats.ts).
 */
import { decodeGif, isGif } from "./decoders/gif.js";
import { decodePng, isPng } from "./decoders/png.js";
import { decodeJpeg, decodeWebp, isJpeg, isWebp } from "./decoders/sharp_formats.js";
import sharp from "sharp";
import { type DecodeLimits, ImageDecodeError, type RgbImage } from "./decoders/types.js";

export { type DecodeLimits, DEFAULT_MAX_PIXELS, ImageDecodeError, type RgbImage } from "./decoders/types.js";

/** The container formats we decode, named by magic bytes (never by file name or MIME type). */
export type ImageFormat = "png" | "jpeg" | "webp" | "gif";

/** Formats we recognise but refuse, so the error can name them. */
const KNOWN_UNSUPPORTED: Array<[string, (b: Uint8Array) => boolean]> = [
  ["BMP", (b) => b[0] === 0x42 && b[1] === 0x4d],
  ["TIFF", (b) => (b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)],
  ["HEIF/AVIF", (b) => b.length >= 12 && String.fromCharCode(...b.subarray(4, 8)) === "ftyp"],
  ["JPEG 2000", (b) => b.length >= 12 && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0x0c && b[4] === 0x6a && b[5] === 0x50],
  ["ICO", (b) => b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0],
  ["SVG/XML", (b) => /^\s*<(\?xml|svg)/i.test(String.fromCharCode(...b.subarray(0, 64)))],
  ["PDF", (b) => String.fromCharCode(...b.subarray(0, 5)) === "%PDF-"],
];

/** Names the format from the first bytes; undefined when it is not one we decode. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (isPng(bytes)) return "png";
  if (isJpeg(bytes)) return "jpeg";
  if (isGif(bytes)) return "gif";
  if (isWebp(bytes)) return "webp";
  return undefined;
}

/**
 * Decodes image bytes to 8-bit RGB exactly as Pillow 9.4's `Image.open(f).convert("RGB")` would.
 * Throws {@link ImageDecodeError} for empty, truncated, unknown, unsupported or too large images
 * (the pixel limit is checked from the header, before decoding).
 *
 * @example const img = await decodeImage(await readFile("cat.jpg")); // { width, height, data: HWC RGB }
 */
export async function decodeImage(bytes: Uint8Array, limits?: DecodeLimits): Promise<RgbImage> {
  if (!(bytes instanceof Uint8Array)) {
    throw new ImageDecodeError("decodeImage() needs the file's bytes as a Uint8Array/Buffer.", "Pass the raw file contents.");
  }
  if (bytes.length === 0) throw new ImageDecodeError("The image is empty (0 bytes).");
  const format = sniffImageFormat(bytes);
  switch (format) {
    case "png":
      return decodePng(bytes, limits);
    case "gif":
      return decodeGif(bytes, limits);
    case "jpeg":
      return decodeJpeg(bytes, limits);
    case "webp":
      return decodeWebp(bytes, limits);
  }
  const known = KNOWN_UNSUPPORTED.find(([, test]) => bytes.length >= 4 && test(bytes));
  if (known) throw new ImageDecodeError(`${known[0]} images are not supported.`, "Convert it to PNG or JPEG, or send a PNG, JPEG, WebP or GIF file.");
  throw new ImageDecodeError(`The data is not a recognised image (${bytes.length} bytes, starting ${hexStart(bytes)}).`);
}

/**
 * Sees an image right after a caption path decoded it (`index`: its place in the request), before the
 * pixels are resized and let go: lets other work (colours) use the decode instead of repeating it.
 * Synchronous, and the image must not be kept (it may be handed to a worker thread next).
 */
export type OnDecoded = (image: RgbImage, index: number) => void;

/** What decoding an image costs in memory, from its header alone. */
export interface DecodedSize {
  width: number;
  height: number;
  channels: number;
  bytesPerSample: number;
  /**
   * What decoding holds: width × height × channels × bytesPerSample (the samples at the file's own
   * depth), and at least the 8-bit RGB result every decoder returns (3 bytes a pixel, e.g. for grey).
   */
  bytes: number;
}

/** Bytes a pixel of the decoders' result (8-bit RGB). */
const RGB_BYTES = 3;

const BYTES_PER_SAMPLE: Record<string, number> = { uchar: 1, char: 1, ushort: 2, short: 2, uint: 4, int: 4, float: 4, complex: 8, double: 8, dpcomplex: 16 };

/**
 * The decoded size of an image file, read from its header by sharp (no pixel is decoded); null for
 * what is not an image of a format we decode, or a header sharp cannot read (the decoder then says why).
 *
 * @example await decodedSize(png16) // { width: 7000, height: 7000, channels: 4, bytesPerSample: 2, bytes: 392000000 }
 */
export async function decodedSize(bytes: Uint8Array): Promise<DecodedSize | null> {
  if (bytes.length === 0 || sniffImageFormat(bytes) === undefined) return null;
  try {
    const meta = await sharp(bytes).metadata();
    if (!meta.width || !meta.height) return null;
    const channels = meta.channels ?? 3;
    const bytesPerSample = BYTES_PER_SAMPLE[meta.depth ?? "uchar"] ?? 1;
    return { width: meta.width, height: meta.height, channels, bytesPerSample, bytes: meta.width * meta.height * Math.max(channels * bytesPerSample, RGB_BYTES) };
  } catch {
    return null;
  }
}

function hexStart(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
}
