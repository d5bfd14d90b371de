/**
 * JPEG and WebP through sharp (libvips with libjpeg-turbo's decoder and libwebp), checked to give the same
 * pixels as Pillow 9.4 (libjpeg-turbo ISLOW IDCT + fancy upsampling; libwebp with fancy upsampling).
 *
 * What we keep from libvips' defaults and what we switch off, and why:
 * - ICC profiles are ignored (Pillow does no colour management); EXIF orientation is ignored (the reference
 *   does not call `exif_transpose`).
 * - CMYK JPEGs are taken as raw CMYK bands (libvips would colour-manage them to sRGB) and converted with
 *   Pillow's own formula; libvips reports them with the same (Adobe) polarity Pillow assumes.
 * - Alpha is dropped without compositing; grey is replicated.
 * Dimensions are read from the header ourselves so the pixel limit is enforced before decoding.
 */
import sharp, { type Sharp } from "sharp";
import { type DecodeLimits, ImageDecodeError, type RgbImage, checkDimensions, truncated } from "./types.js";

/** True when the bytes start with a JPEG SOI marker followed by another marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** True for a RIFF container of type WEBP. */
export function isWebp(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP";
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}

function u16be(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

function u24le(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
}

interface JpegHeader {
  width: number;
  height: number;
  components: number;
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** Reads the frame header (size, component count) by walking the marker segments up to the first scan. */
export function readJpegHeader(bytes: Uint8Array): JpegHeader {
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) {
      pos++; // Pillow skips junk between segments too
      continue;
    }
    const marker = bytes[pos + 1];
    if (marker === 0xff || marker === 0x00 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += marker === 0xff ? 1 : 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break;
    const length = u16be(bytes, pos + 2);
    if (SOF_MARKERS.has(marker)) {
      if (pos + 10 > bytes.length) break;
      return { height: u16be(bytes, pos + 5), width: u16be(bytes, pos + 7), components: bytes[pos + 9] };
    }
    pos += 2 + length;
  }
  throw truncated("JPEG", "no frame header before the image data");
}

/** Canvas size of a WebP file (VP8, VP8L or extended VP8X layout). */
export function readWebpSize(bytes: Uint8Array): { width: number; height: number } {
  if (bytes.length < 30) throw truncated("WebP", "the header is incomplete");
  const chunk = ascii(bytes, 12, 4);
  const d = 20; // start of the first chunk's data
  if (chunk === "VP8X") return { width: u24le(bytes, d + 4) + 1, height: u24le(bytes, d + 7) + 1 };
  if (chunk === "VP8L") {
    if (bytes[d] !== 0x2f) throw corrupt("WebP", "bad lossless signature");
    const bits = bytes[d + 1] | (bytes[d + 2] << 8) | (bytes[d + 3] << 16) | (bytes[d + 4] << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === "VP8 ") {
    if (bytes[d + 3] !== 0x9d || bytes[d + 4] !== 0x01 || bytes[d + 5] !== 0x2a) throw corrupt("WebP", "bad lossy start code");
    return { width: (bytes[d + 6] | (bytes[d + 7] << 8)) & 0x3fff, height: (bytes[d + 8] | (bytes[d + 9] << 8)) & 0x3fff };
  }
  throw corrupt("WebP", `unknown first chunk "${chunk}"`);
}

function corrupt(format: string, detail: string): ImageDecodeError {
  return new ImageDecodeError(`The ${format} file is corrupt (${detail}).`, "Send an undamaged file.");
}

/** Decodes a JPEG as Pillow's `Image.open(f).convert("RGB")` does. */
export async function decodeJpeg(bytes: Uint8Array, limits?: DecodeLimits): Promise<RgbImage> {
  const header = readJpegHeader(bytes);
  checkDimensions("JPEG", header.width, header.height, limits);
  if (header.components === 4) {
    const raw = await runSharp("JPEG", bytes, (s) => s.pipelineColourspace("cmyk").toColourspace("cmyk"));
    if (raw.channels !== 4) throw corrupt("JPEG", `expected 4 CMYK bands, got ${raw.channels}`);
    return { width: raw.width, height: raw.height, data: cmykToRgb(raw.data) };
  }
  const raw = await runSharp("JPEG", bytes, (s) => s);
  return { width: raw.width, height: raw.height, data: bandsToRgb(raw.data, raw.channels) };
}

/** Decodes the first frame of a WebP file; alpha is dropped without compositing (and kept on the side: RgbImage.alpha). */
export async function decodeWebp(bytes: Uint8Array, limits?: DecodeLimits): Promise<RgbImage> {
  const riffEnd = 8 + (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
  if (bytes.length < riffEnd) throw truncated("WebP", `${bytes.length} of ${riffEnd} bytes`);
  const size = readWebpSize(bytes);
  checkDimensions("WebP", size.width, size.height, limits);
  const raw = await runSharp("WebP", bytes, (s) => s);
  return { width: raw.width, height: raw.height, data: bandsToRgb(raw.data, raw.channels), ...alphaBand(raw) };
}

interface RawPixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

async function runSharp(format: string, bytes: Uint8Array, configure: (s: Sharp) => Sharp): Promise<RawPixels> {
  try {
    // failOn "truncated": like Pillow, refuse cut-off files but accept files that only raise decoder warnings.
    const pipeline = configure(sharp(bytes, { limitInputPixels: false, ignoreIcc: true, autoOrient: false, failOn: "truncated" }));
    const { data, info } = await pipeline.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    if (/premature end|truncat|end of file|unexpected end|not enough data/i.test(message)) throw truncated(format, message);
    throw corrupt(format, message);
  }
}

/** The alpha band of grey+alpha or RGBA pixels as a plane, for colour work; nothing for 1 or 3 bands. */
function alphaBand(raw: RawPixels): { alpha?: Uint8Array } {
  if (raw.channels !== 2 && raw.channels !== 4) return {};
  const n = raw.width * raw.height;
  const alpha = new Uint8Array(n);
  for (let i = 0, s = raw.channels - 1; i < n; i++, s += raw.channels) alpha[i] = raw.data[s];
  return { alpha };
}

/** Interleaved 1–4 band 8-bit pixels → RGB: grey replicated, alpha dropped. */
function bandsToRgb(src: Uint8Array, channels: number): Uint8Array {
  if (channels === 3) return src;
  const n = Math.floor(src.length / channels);
  const out = new Uint8Array(n * 3);
  if (channels <= 2) {
    for (let i = 0, s = 0, o = 0; i < n; i++, s += channels, o += 3) out[o] = out[o + 1] = out[o + 2] = src[s];
  } else {
    for (let i = 0, s = 0, o = 0; i < n; i++, s += channels, o += 3) {
      out[o] = src[s];
      out[o + 1] = src[s + 1];
      out[o + 2] = src[s + 2];
    }
  }
  return out;
}

/**
 * Pillow's CMYK → RGB (Convert.c `cmyk2rgb`): with nk = 255 - K, each channel is nk - C·nk/255 using its
 * rounded integer division `MULDIV255(a, b) = ((a·b + 128) >> 8) + (a·b + 128)) >> 8`.
 */
function cmykToRgb(src: Uint8Array): Uint8Array {
  const n = src.length >> 2;
  const out = new Uint8Array(n * 3);
  for (let i = 0, s = 0, o = 0; i < n; i++, s += 4, o += 3) {
    const nk = 255 - src[s + 3];
    for (let c = 0; c < 3; c++) {
      const t = src[s + c] * nk + 128;
      const v = nk - (((t >> 8) + t) >> 8);
      out[o + c] = v < 0 ? 0 : v;
    }
  }
  return out;
}
