/**
 * EXIF orientation, applied on request only. The reference (transformers + Pillow's `open().convert`)
 * never rotates, so captions stay identical to it by default; `exif_transpose` turns a phone photo
 * stored sideways upright first, as Pillow's `ImageOps.exif_transpose` would.
 */
import sharp from "sharp";
import { decodeImage } from "./image.js";
import type { DecodeLimits, RgbImage } from "./decoders/types.js";

/** The EXIF orientation tag (1–8) of an image file; 1 when it has none or it cannot be read. */
export async function exifOrientation(bytes: Uint8Array): Promise<number> {
  try {
    const { orientation } = await sharp(bytes).metadata();
    return orientation !== undefined && orientation >= 1 && orientation <= 8 ? orientation : 1;
  } catch {
    return 1; // a damaged file is refused later by the decoder, with its own message
  }
}

/**
 * The image as the camera meant it: Pillow's exif_transpose for EXIF orientations 1–8
 * (2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise).
 * @example orient({ width: 2, height: 1, data: Uint8Array.of(1,1,1, 2,2,2) }, 6) // 1×2: [1,1,1] above [2,2,2]
 */
export function orient(image: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const [ow, oh] = swap ? [h, w] : [w, h];
  // Where output pixel (x, y) comes from in the stored image.
  const transforms: Array<(x: number, y: number) => [number, number]> = [
    (x, y) => [x, y],
    (x, y) => [w - 1 - x, y],
    (x, y) => [w - 1 - x, h - 1 - y],
    (x, y) => [x, h - 1 - y],
    (x, y) => [y, x],
    (x, y) => [y, h - 1 - x],
    (x, y) => [w - 1 - y, h - 1 - x],
    (x, y) => [w - 1 - y, x],
  ];
  const source = transforms[orientation - 1]!;
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const [sx, sy] = source(x, y);
      const s = (sy * w + sx) * 3;
      const o = (y * ow + x) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { width: ow, height: oh, data: out };
}

/**
 * The file turned upright when its EXIF orientation asks for it, else the same bytes. A turned
 * image comes back as a lossless PNG of the model decoder's own pixels, so every caption path that
 * takes file bytes (the batcher, remote workers, the CLI) sees exactly the rotated Pillow pixels.
 */
export async function exifTransposed(bytes: Uint8Array, limits?: DecodeLimits): Promise<Uint8Array> {
  const orientation = await exifOrientation(bytes);
  if (orientation === 1) return bytes;
  const upright = orient(await decodeImage(bytes, limits), orientation);
  const png = await sharp(upright.data, { raw: { width: upright.width, height: upright.height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
