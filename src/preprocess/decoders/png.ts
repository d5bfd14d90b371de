/**
 * PNG decoder giving what Pillow 9.4's `Image.open(f).convert("RGB")` gives, byte for byte.
 *
 * Written by hand (node:zlib for the inflate) because libvips/sharp differ from Pillow on the cases that
 * matter here: Pillow keeps the *high byte* of 16-bit colour samples, opens 16-bit grey as mode "I" whose
 * RGB conversion *clips* at 255, ignores tRNS, drops alpha without compositing, and fills palette entries
 * missing from a short PLTE with a grey ramp.
 */
import { createInflate } from "node:zlib";
import { type DecodeLimits, ImageDecodeError, type RgbImage, checkDimensions, truncated } from "./types.js";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** CRC-32 table (zlib.crc32 only exists from Node 20.15; we support all of Node 20). */
const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** True when the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Decodes a PNG into 8-bit RGB with Pillow's `convert("RGB")` semantics. */
export async function decodePng(bytes: Uint8Array, limits?: DecodeLimits): Promise<RgbImage> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let sawIdat = false;
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    const dataStart = pos + 8;
    if (length > 0x7fffffff || dataStart + length + 4 > bytes.length) {
      // Like Pillow, use what there is of a cut-off IDAT: it is enough if it holds every row.
      if (type === "IDAT" && header !== undefined) {
        idat.push(bytes.subarray(dataStart, Math.min(bytes.length, dataStart + length)));
        break;
      }
      throw truncated("PNG", `chunk ${type} is cut off`);
    }
    const data = bytes.subarray(dataStart, dataStart + length);
    // Pillow verifies the CRC of the chunks it reads while opening (everything before the image data).
    if (!sawIdat && type !== "IDAT" && crc32(bytes.subarray(pos + 4, dataStart + length)) !== view.getUint32(dataStart + length)) {
      throw new ImageDecodeError(`The PNG file is corrupt (bad checksum in chunk ${type}).`, "Send an undamaged file.");
    }
    pos = dataStart + length + 4;
    if (header === undefined && type !== "IHDR") throw new ImageDecodeError("The PNG file does not start with an IHDR chunk.", "Send a valid PNG file.");
    if (type === "IHDR") {
      header = readHeader(data, limits);
    } else if (type === "PLTE") {
      palette = data;
    } else if (type === "IDAT") {
      sawIdat = true;
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
  }
  if (header === undefined) throw truncated("PNG", "no IHDR chunk");
  if (idat.length === 0) throw truncated("PNG", "no image data");
  if (header.colorType === 3 && palette === undefined) {
    throw new ImageDecodeError("The palette PNG has no PLTE chunk.", "Send a valid PNG file.");
  }
  // Rows are unfiltered and converted as they are inflated: the image is never held at its full
  // sample depth (a 16-bit RGBA file would be 8 bytes a pixel), only as the 8-bit RGB result.
  return decodeRowByRow(idat, header, palette);
}

/** The scanlines of the stream, in order: per pass (one for a plain PNG, Adam7's seven otherwise) its size and placement. */
function passes(h: Header): { width: number; rows: number; x0: number; y0: number; dx: number; dy: number }[] {
  return (h.interlaced ? ADAM7 : [[0, 0, 1, 1] as const])
    .map((pass) => {
      const [width, rows] = passSize(h, pass);
      return { width, rows, x0: pass[0], y0: pass[1], dx: pass[2], dy: pass[3] };
    })
    .filter((p) => p.width > 0 && p.rows > 0);
}

/**
 * One scanline at a time straight out of the inflate stream, interlaced or not (an Adam7 pass's
 * rows are written at their places with the pass's step): memory is the RGB result plus two
 * scanlines, and the work runs in slices between the stream's chunks (the event loop keeps
 * turning). Pillow's data rules: surplus data ignored, a complete stream that stops at a row
 * boundary leaves the remaining rows zero, a stream stopping mid-row or cut off is truncated.
 */
function decodeRowByRow(parts: Uint8Array[], h: Header, plte: Uint8Array | undefined): Promise<RgbImage> {
  const out = new Uint8Array(h.width * h.height * 3);
  const alpha = alphaPlane(h);
  const bpp = Math.max(1, bitsPerPixel(h) >> 3);
  const table = plte ? paletteTable(plte) : undefined;
  const schedule = passes(h);
  // Two scanline slots (filter byte + samples) side by side: the current row and the one above it.
  const slot = rowBytes(h, h.width) + 1;
  const rows = new Uint8Array(2 * slot);
  let pass = 0;
  let stride = rowBytes(h, schedule[0]!.width);
  let current = 0;
  let filled = 0;
  let y = 0; // row within the pass
  const finishRow = () => {
    const p = schedule[pass]!;
    const above = y === 0 ? -1 : (1 - current) * slot + 1; // a pass's first row has none
    unfilter(rows, current * slot, stride, 1, bpp, above);
    expandRow(h, rows, current * slot + 1, p.width, table, out, (p.y0 + y * p.dy) * h.width + p.x0, p.dx, alpha);
    current = 1 - current;
    filled = 0;
    if (++y < p.rows) return;
    y = 0;
    if (++pass < schedule.length) stride = rowBytes(h, schedule[pass]!.width);
  };
  const complete = () => pass === schedule.length;
  return new Promise((resolve, reject) => {
    const inflater = createInflate();
    let settled = false;
    const finish = (failure?: "cut" | "corrupt"): void => {
      if (settled) return;
      settled = true;
      inflater.destroy();
      if (complete()) return resolve({ width: h.width, height: h.height, data: out, ...(alpha && { alpha }) });
      if (failure === "corrupt") return reject(new ImageDecodeError("The PNG file is corrupt (bad compressed image data).", "Send an undamaged file."));
      if (failure === "cut") return reject(truncated("PNG", "the image data ends early"));
      if (filled !== 0) return reject(truncated("PNG", "the image data stops in the middle of a row"));
      // Pillow's image starts zeroed: the missing rows are rows of zero bytes (filter 0), expanded.
      while (!complete()) {
        rows.fill(0, current * slot, (current + 1) * slot);
        finishRow();
      }
      // (Their alpha is 0 too: transparent, so colours do not count them.)
      resolve({ width: h.width, height: h.height, data: out, ...(alpha && { alpha }) });
    };
    inflater.on("data", (chunk: Buffer) => {
      if (settled) return;
      try {
        for (let at = 0; at < chunk.length && !complete(); ) {
          const n = Math.min(stride + 1 - filled, chunk.length - at);
          rows.set(chunk.subarray(at, at + n), current * slot + filled);
          filled += n;
          at += n;
          if (filled === stride + 1) finishRow();
        }
      } catch (error) {
        settled = true;
        inflater.destroy();
        return reject(error);
      }
      if (complete()) finish();
    });
    inflater.on("end", () => finish());
    inflater.on("error", (err: NodeJS.ErrnoException) => finish(err.code === "Z_BUF_ERROR" ? "cut" : "corrupt"));
    for (const part of parts) inflater.write(part);
    inflater.end();
  });
}

function readHeader(data: Uint8Array, limits?: DecodeLimits): Header {
  if (data.length < 13) throw truncated("PNG", "IHDR is too short");
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const header: Header = {
    width: v.getUint32(0),
    height: v.getUint32(4),
    bitDepth: data[8],
    colorType: data[9],
    interlaced: data[12] === 1,
  };
  if (!(header.colorType in CHANNELS) || !ALLOWED_DEPTHS[header.colorType].includes(header.bitDepth)) {
    throw new ImageDecodeError(
      `Unsupported PNG layout (bit depth ${header.bitDepth}, colour type ${header.colorType}).`,
      "Re-save the image as an 8-bit RGB PNG or a JPEG.",
    );
  }
  if (data[10] !== 0 || data[11] !== 0 || data[12] > 1) {
    throw new ImageDecodeError("Unsupported PNG compression, filter or interlace method.", "Re-save the image as a standard PNG.");
  }
  checkDimensions("PNG", header.width, header.height, limits);
  return header;
}

function bitsPerPixel(h: Header): number {
  return CHANNELS[h.colorType] * h.bitDepth;
}

function rowBytes(h: Header, width: number): number {
  return Math.ceil((width * bitsPerPixel(h)) / 8);
}

function passSize(h: Header, pass: readonly [number, number, number, number]): [number, number] {
  const [x0, y0, dx, dy] = pass;
  return [Math.max(0, Math.ceil((h.width - x0) / dx)), Math.max(0, Math.ceil((h.height - y0) / dy))];
}

/**
 * Reverses the PNG row filters in place over `raw[start ..]` (one filter byte, then `stride` bytes per
 * row). `above`: offset of the samples of the row above the first one, -1 for a row of zeros.
 */
function unfilter(raw: Uint8Array, start: number, stride: number, rows: number, bpp: number, above = -1): void {
  let prev = above; // offset of the previous row's first byte; -1 means a row of zeros
  for (let y = 0, pos = start; y < rows; y++, pos += stride + 1) {
    const ft = raw[pos];
    const row = pos + 1;
    const end = row + stride;
    switch (ft) {
      case 0:
        break;
      case 1: // sub
        for (let i = row + bpp; i < end; i++) raw[i] = (raw[i] + raw[i - bpp]) & 0xff;
        break;
      case 2: // up
        if (prev >= 0) for (let i = row, j = prev; i < end; i++, j++) raw[i] = (raw[i] + raw[j]) & 0xff;
        break;
      case 3: // average
        for (let i = row, j = prev; i < end; i++, j++) {
          const a = i - row >= bpp ? raw[i - bpp] : 0;
          const b = prev >= 0 ? raw[j] : 0;
          raw[i] = (raw[i] + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4: // paeth
        for (let i = row, j = prev; i < end; i++, j++) {
          const left = i - row >= bpp;
          const a = left ? raw[i - bpp] : 0;
          const b = prev >= 0 ? raw[j] : 0;
          const c = prev >= 0 && left ? raw[j - bpp] : 0;
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          raw[i] = (raw[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
        }
        break;
      default:
        throw new ImageDecodeError(`The PNG file is corrupt (unknown row filter ${ft}).`, "Send an undamaged file.");
    }
    prev = row;
  }
}

/** 256-entry RGB table: PLTE entries first, then Pillow's default grey ramp for indices PLTE lacks. */
function paletteTable(plte: Uint8Array): Uint8Array {
  const table = new Uint8Array(768);
  for (let i = 0; i < 256; i++) table[i * 3] = table[i * 3 + 1] = table[i * 3 + 2] = i;
  table.set(plte.subarray(0, Math.min(768, plte.length - (plte.length % 3))));
  return table;
}

/**
 * The alpha plane kept on the side of an 8-bit grey+alpha or RGBA PNG (see RgbImage.alpha); the
 * RGB result is Pillow's either way. Other layouts keep none (16-bit alpha would need rounding).
 */
function alphaPlane(h: Header): Uint8Array | undefined {
  return (h.colorType === 4 || h.colorType === 6) && h.bitDepth === 8 ? new Uint8Array(h.width * h.height) : undefined;
}

/**
 * Writes `count` pixels of one unfiltered row as RGB at pixel `outPixel`, stepping `step` pixels,
 * and their alpha into `alpha` when given (8-bit grey+alpha and RGBA only).
 */
function expandRow(
  h: Header, src: Uint8Array, at: number, count: number, table: Uint8Array | undefined,
  out: Uint8Array, outPixel: number, step: number, alpha?: Uint8Array,
): void {
  const depth = h.bitDepth;
  let o = outPixel * 3;
  const oStep = step * 3;
  switch (h.colorType) {
    case 0: // grey: 1-bit is mode "1" (0/255), 2/4-bit are scaled to 8 bits, 16-bit is mode "I" clipped to 255
      if (depth === 16) {
        for (let x = 0; x < count; x++, o += oStep) {
          const v = (src[at + 2 * x] << 8) | src[at + 2 * x + 1];
          out[o] = out[o + 1] = out[o + 2] = v > 255 ? 255 : v;
        }
      } else {
        const scale = depth === 1 ? 255 : depth === 2 ? 0x55 : depth === 4 ? 0x11 : 1;
        for (let x = 0; x < count; x++, o += oStep) {
          const v = sample(src, at, x, depth) * scale;
          out[o] = out[o + 1] = out[o + 2] = v;
        }
      }
      return;
    case 2: { // RGB; 16-bit keeps the high byte
      const bytes = depth >> 3;
      for (let x = 0, i = at; x < count; x++, o += oStep, i += 3 * bytes) {
        out[o] = src[i];
        out[o + 1] = src[i + bytes];
        out[o + 2] = src[i + 2 * bytes];
      }
      return;
    }
    case 3: // palette, transparency ignored
      for (let x = 0; x < count; x++, o += oStep) {
        const p = sample(src, at, x, depth) * 3;
        out[o] = table![p];
        out[o + 1] = table![p + 1];
        out[o + 2] = table![p + 2];
      }
      return;
    case 4: { // grey + alpha: alpha dropped, grey replicated (16-bit: high byte)
      const bytes = depth >> 3;
      for (let x = 0, i = at; x < count; x++, o += oStep, i += 2 * bytes) {
        out[o] = out[o + 1] = out[o + 2] = src[i];
      }
      if (alpha) for (let x = 0, i = at + 1; x < count; x++, i += 2) alpha[outPixel + x * step] = src[i];
      return;
    }
    case 6: { // RGBA: alpha dropped without compositing
      const bytes = depth >> 3;
      for (let x = 0, i = at; x < count; x++, o += oStep, i += 4 * bytes) {
        out[o] = src[i];
        out[o + 1] = src[i + bytes];
        out[o + 2] = src[i + 2 * bytes];
      }
      if (alpha) for (let x = 0, i = at + 3; x < count; x++, i += 4) alpha[outPixel + x * step] = src[i];
      return;
    }
  }
}

/** The x-th sample of a row packed at `depth` bits (1, 2, 4 or 8), most significant bits first. */
function sample(src: Uint8Array, at: number, x: number, depth: number): number {
  if (depth === 8) return src[at + x];
  const perByte = 8 / depth;
  const byte = src[at + Math.floor(x / perByte)];
  const shift = 8 - depth * ((x % perByte) + 1);
  return (byte >> shift) & ((1 << depth) - 1);
}
