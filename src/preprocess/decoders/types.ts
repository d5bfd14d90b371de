/** Shared types of the image decoders (kept apart so decoders and `image.ts` do not import each other). */

/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC): `data.length === width * height * 3`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
  /**
   * The file's alpha, one byte a pixel, when a decoder kept it on the side (8-bit grey+alpha and
   * RGBA PNGs). The model never sees it (Pillow's `convert("RGB")` drops alpha); colour work does.
   */
  alpha?: Uint8Array;
}

/** Limits checked from the file header, before any pixel is decoded. */
export interface DecodeLimits {
  /** Largest accepted `width * height` (decompression-bomb guard). Default 50,000,000. */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;

const SEND_INSTEAD = "Send a PNG, JPEG, WebP or GIF file.";

/** The bytes could not be turned into an image; the message says what is wrong and what to send instead. */
export class ImageDecodeError extends Error {
  constructor(
    problem: string,
    advice: string = SEND_INSTEAD,
    /** `too_many_pixels` when the decompression-bomb guard refused the image (a server answers 413). */
    readonly kind: "invalid" | "too_many_pixels" = "invalid",
  ) {
    super(`${problem} ${advice}`.trim());
    this.name = "ImageDecodeError";
  }
}

/** Throws when a header announces an empty or too large image; call it before allocating pixels. */
export function checkDimensions(format: string, width: number, height: number, limits?: DecodeLimits): void {
  if (!(width > 0 && height > 0)) {
    throw new ImageDecodeError(`The ${format} header gives an empty image size (${width}x${height}).`);
  }
  const maxPixels = limits?.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > maxPixels) {
    throw new ImageDecodeError(
      `The ${format} image is ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}` +
        " (a guard against decompression bombs).",
      "Downscale the image before sending it.",
      "too_many_pixels",
    );
  }
}

/** Thrown when the data ends early; one wording for every format. */
export function truncated(format: string, detail = ""): ImageDecodeError {
  return new ImageDecodeError(
    `The ${format} file is truncated or corrupt${detail ? ` (${detail})` : ""}.`,
    "Send the complete file (check that the upload or download finished).",
  );
}
