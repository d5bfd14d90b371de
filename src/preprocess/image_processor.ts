/**
 * transformers 4.40 `BlipImageProcessor`: `preprocessor_config.json` parsing with the class defaults, and
 * `pixel_values` computed exactly as it does: PIL resize on uint8 → `x * rescale_factor` in float64 cast
 * to float32 → `(x - mean) / std` in float32 → CHW.
 */
import { type DecodeLimits, decodeImage } from "./image.js";
import type { RgbImage } from "./decoders/types.js";
import { Resampling, resizePil } from "./resize.js";

/** The processor settings that shape `pixel_values`. */
export interface ImageProcessorConfig {
  size: { height: number; width: number };
  resample: number;
  doResize: boolean;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  doConvertRgb: boolean;
}

/** A `preprocessor_config.json` that cannot be used; the message names the key and what to write. */
export class ImageProcessorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageProcessorConfigError";
  }
}

/** OpenAI CLIP statistics, BlipImageProcessor's defaults. */
export const OPENAI_CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** BlipImageProcessor 4.40 defaults (384×384, bicubic, 1/255, CLIP mean/std). */
export function defaultImageProcessorConfig(): ImageProcessorConfig {
  return {
    size: { height: 384, width: 384 },
    resample: Resampling.BICUBIC,
    doResize: true,
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    imageMean: [...OPENAI_CLIP_MEAN],
    imageStd: [...OPENAI_CLIP_STD],
    doConvertRgb: true,
  };
}

/**
 * Parses a `preprocessor_config.json` object. Missing (or null) keys take the 4.40 defaults, a bare
 * integer `size` means a square (legacy hub files), unknown keys such as `_valid_processor_keys` are ignored.
 *
 * @example parseImageProcessorConfig({ size: 24 }).size // { height: 24, width: 24 }
 */
export function parseImageProcessorConfig(json: unknown): ImageProcessorConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ImageProcessorConfigError("preprocessor_config.json must hold a JSON object.");
  }
  const raw = json as Record<string, unknown>;
  const cfg = defaultImageProcessorConfig();
  const has = (key: string): boolean => raw[key] !== undefined && raw[key] !== null;
  if (has("size")) cfg.size = parseSize(raw.size);
  if (has("resample")) cfg.resample = parseResample(raw.resample);
  if (has("do_resize")) cfg.doResize = parseBool("do_resize", raw.do_resize);
  if (has("do_rescale")) cfg.doRescale = parseBool("do_rescale", raw.do_rescale);
  if (has("rescale_factor")) cfg.rescaleFactor = parseNumber("rescale_factor", raw.rescale_factor);
  if (has("do_normalize")) cfg.doNormalize = parseBool("do_normalize", raw.do_normalize);
  if (has("image_mean")) cfg.imageMean = parseTriple("image_mean", raw.image_mean);
  if (has("image_std")) cfg.imageStd = parseTriple("image_std", raw.image_std);
  if (has("do_convert_rgb")) cfg.doConvertRgb = parseBool("do_convert_rgb", raw.do_convert_rgb);
  if (cfg.imageStd.some((s) => s === 0)) throw new ImageProcessorConfigError("image_std must not contain 0 (it divides the pixels).");
  return cfg;
}

function positiveInt(key: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new ImageProcessorConfigError(`${key} must be a positive integer, got ${JSON.stringify(v)}.`);
  }
  return v;
}

function parseSize(v: unknown): { height: number; width: number } {
  if (typeof v === "number") return { height: positiveInt("size", v), width: positiveInt("size", v) };
  if (Array.isArray(v) && v.length === 2) return { height: positiveInt("size[0]", v[0]), width: positiveInt("size[1]", v[1]) };
  if (typeof v === "object" && v !== null) {
    const s = v as Record<string, unknown>;
    if (s.height !== undefined && s.width !== undefined) {
      return { height: positiveInt("size.height", s.height), width: positiveInt("size.width", s.width) };
    }
  }
  throw new ImageProcessorConfigError(
    `size must be an integer or {"height": H, "width": W} (BlipImageProcessor resizes to an exact size), got ${JSON.stringify(v)}.`,
  );
}

function parseResample(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 5) {
    throw new ImageProcessorConfigError(
      `resample must be a Pillow filter number (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming), got ${JSON.stringify(v)}.`,
    );
  }
  return v;
}

function parseBool(key: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw new ImageProcessorConfigError(`${key} must be true or false, got ${JSON.stringify(v)}.`);
  return v;
}

function parseNumber(key: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ImageProcessorConfigError(`${key} must be a number, got ${JSON.stringify(v)}.`);
  return v;
}

function parseTriple(key: string, v: unknown): [number, number, number] {
  if (typeof v === "number") return [parseNumber(key, v), v, v]; // transformers repeats a scalar per channel
  if (Array.isArray(v) && v.length === 3) return [parseNumber(`${key}[0]`, v[0]), parseNumber(`${key}[1]`, v[1]), parseNumber(`${key}[2]`, v[2])];
  throw new ImageProcessorConfigError(`${key} must be a number or a list of 3 numbers (one per RGB channel), got ${JSON.stringify(v)}.`);
}

/**
 * The model input for one decoded image: `[3, H, W]` float32, channels first. Resizes with Pillow's
 * filter (when `doResize`), then rescales and normalises with transformers' dtypes.
 *
 * @example toPixelValues(await decodeImage(bytes), cfg) // Float32Array of 3 * 384 * 384
 */
export function toPixelValues(img: RgbImage, cfg: ImageProcessorConfig): Float32Array {
  const src = cfg.doResize ? resizePil(img, cfg.size.width, cfg.size.height, cfg.resample) : img;
  const plane = src.width * src.height;
  const out = new Float32Array(3 * plane);
  const data = src.data;
  for (let c = 0; c < 3; c++) {
    // Every uint8 value maps to one float32, so compute the 256 possible results once per channel.
    const lut = channelTable(cfg, c);
    const base = c * plane;
    for (let i = 0, p = c; i < plane; i++, p += 3) out[base + i] = lut[data[p]];
  }
  return out;
}

/** float32 result of rescale + normalise for each uint8 value of channel `c`, with transformers' dtypes. */
function channelTable(cfg: ImageProcessorConfig, c: number): Float32Array {
  // transformers casts mean/std to the image dtype (float32); float64 ops then fround give float32 results exactly
  const mean = Math.fround(cfg.imageMean[c]);
  const std = Math.fround(cfg.imageStd[c]);
  const lut = new Float32Array(256);
  for (let x = 0; x < 256; x++) {
    let v = cfg.doRescale ? Math.fround(x * cfg.rescaleFactor) : x;
    if (cfg.doNormalize) v = Math.fround(Math.fround(v - mean) / std);
    lut[x] = v;
  }
  return lut;
}

/**
 * Bytes of an image file → `pixel_values` `[3, H, W]`, like `processor(images=Image.open(f))` for one image.
 * Throws ImageDecodeError for bad images.
 */
export async function preprocessImage(bytes: Uint8Array, cfg: ImageProcessorConfig, limits?: DecodeLimits): Promise<Float32Array> {
  return toPixelValues(await decodeImage(bytes, limits), cfg);
}

/**
 * Per-image pixel arrays → one batch array, in order (e.g. `[3, S, S]` × n → `[n, 3, S, S]`).
 * A single part is returned as it is, without a copy.
 */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}
