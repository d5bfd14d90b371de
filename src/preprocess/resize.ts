/**
 * Pillow 9.4's `Image.resize` for 8-bit RGB images, bit-exact (our own port of the algorithm in
 * Pillow's libImaging/Resample.c and, for NEAREST, Geometry.c's scale-affine path).
 *
 * The convolution filters work like this:
 * - one pass per axis, horizontal first; each pass rounds and clips to uint8 (the intermediate is uint8);
 * - when reducing, the filter support is stretched by the reduction factor (antialiasing);
 * - the weights of every output pixel are normalised to sum 1 in float64, then turned into 22-bit
 *   fixed point (round half away from zero) and accumulated in integers from a bias of 0.5;
 * - the horizontal pass only computes the source rows the vertical pass will read.
 */
import type { RgbImage } from "./decoders/types.js";

/** Pillow's resampling filter numbers (`PIL.Image.Resampling`), as `resample` in preprocessor configs. */
export const Resampling = { NEAREST: 0, LANCZOS: 1, BILINEAR: 2, BICUBIC: 3, BOX: 4, HAMMING: 5 } as const;

interface Filter {
  support: number;
  weight: (x: number) => number;
}

const HAMMING_A = Math.fround(0.54); // Pillow writes these as float literals (0.54f, 0.46f)
const HAMMING_B = Math.fround(0.46);

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const FILTERS: Record<number, Filter> = {
  [Resampling.BOX]: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [Resampling.BILINEAR]: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      return ax < 1 ? 1 - ax : 0;
    },
  },
  [Resampling.HAMMING]: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      if (ax === 0) return 1;
      if (ax >= 1) return 0;
      const px = ax * Math.PI;
      return (Math.sin(px) / px) * (HAMMING_A + HAMMING_B * Math.cos(px));
    },
  },
  [Resampling.BICUBIC]: {
    support: 2,
    weight: (x) => {
      const a = -0.5; // Pillow's bicubic uses a = -0.5 (Keys' cubic convolution)
      const ax = Math.abs(x);
      if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
      return 0;
    },
  },
  [Resampling.LANCZOS]: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;
const FIXED_ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output pixel: first source index, tap count, and `ksize` fixed-point weights. */
interface Coefficients {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Weights for resampling `inSize` source pixels (the box `[0, inSize)`) to `outSize`. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const invScale = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero before the clamp
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * invScale);
      k[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? k[x] / total : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * FIXED_ONE) : Math.trunc(0.5 + w * FIXED_ONE);
    }
    start[xx] = xmin;
    count[xx] = Math.max(0, xmax);
  }
  return { ksize, start, count, weights };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Horizontal pass over source rows `[rowFirst, rowFirst + rows)`. Sums stay in int32 (`Math.imul`, `| 0`)
 * as in Pillow's C, which also keeps V8 on its integer fast path.
 */
function resampleHorizontal(src: Uint8Array, srcWidth: number, rowFirst: number, rows: number, outWidth: number, c: Coefficients): Uint8Array {
  const out = new Uint8Array(outWidth * rows * 3);
  const { ksize, start, count, weights } = c;
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + rowFirst) * srcWidth * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      let s0 = HALF, s1 = HALF, s2 = HALF;
      let p = rowBase + start[xx] * 3;
      let k = xx * ksize;
      const kEnd = k + count[xx];
      for (; k < kEnd; k++, p += 3) {
        const w = weights[k];
        s0 = (s0 + Math.imul(src[p], w)) | 0;
        s1 = (s1 + Math.imul(src[p + 1], w)) | 0;
        s2 = (s2 + Math.imul(src[p + 2], w)) | 0;
      }
      out[o++] = clip8(s0);
      out[o++] = clip8(s1);
      out[o++] = clip8(s2);
    }
  }
  return out;
}

/**
 * Vertical pass; `rowOffset` shifts the coefficient bounds when the source is a band of rows. Accumulates
 * whole rows at a time (same sums, same order per pixel as Pillow) so memory is read sequentially.
 */
function resampleVertical(src: Uint8Array, width: number, outHeight: number, c: Coefficients, rowOffset: number): Uint8Array {
  const rowLen = width * 3;
  const out = new Uint8Array(rowLen * outHeight);
  const acc = new Int32Array(rowLen);
  const { ksize, start, count, weights } = c;
  for (let yy = 0; yy < outHeight; yy++) {
    acc.fill(HALF);
    const kBase = yy * ksize;
    const n = count[yy];
    for (let y = 0; y < n; y++) {
      const w = weights[kBase + y];
      const row = (start[yy] - rowOffset + y) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] = (acc[i] + Math.imul(src[row + i], w)) | 0;
    }
    const outBase = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[outBase + i] = clip8(acc[i]);
  }
  return out;
}

/** NEAREST as Pillow does it (an affine scale stepping a float64 source position per output pixel). */
function resizeNearest(img: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const sx = img.width / width;
  const sy = img.height / height;
  const xin = new Int32Array(width);
  let xo = sx * 0.5;
  for (let x = 0; x < width; x++, xo += sx) xin[x] = Math.min(img.width - 1, Math.trunc(xo));
  let yo = sy * 0.5;
  for (let y = 0; y < height; y++, yo += sy) {
    const row = Math.min(img.height - 1, Math.trunc(yo)) * img.width * 3;
    for (let x = 0, o = y * width * 3; x < width; x++, o += 3) {
      const p = row + xin[x] * 3;
      out[o] = img.data[p];
      out[o + 1] = img.data[p + 1];
      out[o + 2] = img.data[p + 2];
    }
  }
  return { width, height, data: out };
}

/**
 * `PIL.Image.resize((width, height), resample)` on an RGB image, bit-exact with Pillow 9.4
 * (whole image as the box, no `reducing_gap`). `resample` uses Pillow's numbers ({@link Resampling}).
 *
 * @example resizePil(img, 384, 384, Resampling.BICUBIC)
 */
export function resizePil(img: RgbImage, width: number, height: number, resample: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`resize target must be positive integers, got ${width}x${height}`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`RGB image data has ${img.data.length} bytes, expected ${img.width}x${img.height}x3`);
  }
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  if (resample === Resampling.NEAREST) return resizeNearest(img, width, height);
  const filter = FILTERS[resample];
  if (filter === undefined) {
    throw new RangeError(`unknown resampling filter ${resample}; use 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box or 5 hamming`);
  }
  const vertical = coefficients(img.height, height, filter);
  // Only the source rows the vertical pass will read go through the horizontal pass.
  const rowFirst = vertical.start[0];
  const rowLast = vertical.start[height - 1] + vertical.count[height - 1];
  let data = img.data;
  let rowOffset = 0;
  if (width !== img.width) {
    const horizontal = coefficients(img.width, width, filter);
    data = resampleHorizontal(img.data, img.width, rowFirst, rowLast - rowFirst, width, horizontal);
    rowOffset = rowFirst;
  }
  if (height !== img.height) data = resampleVertical(data, width, height, vertical, rowOffset);
  return { width, height, data };
}

/** `PIL.Image.resize((width, height), Image.BICUBIC)`, bit-exact: what BlipImageProcessor does (resample=3). */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  return resizePil(img, width, height, Resampling.BICUBIC);
}
