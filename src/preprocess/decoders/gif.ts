/**
 * GIF decoder for the first frame, as Pillow 9.4's `Image.open(f).convert("RGB")` shows it.
 *
 * Pillow's picture of frame 0: the canvas is the logical screen (grown if the frame sticks out), filled
 * with the frame's transparent index if it has one, else index 0; the frame is drawn at its offset;
 * indices go through the local colour table, else the global one, else a grey ramp (index i → grey i),
 * and entries a short table lacks are grey-ramp too. Transparency is ignored by `convert("RGB")`.
 */
import { type DecodeLimits, ImageDecodeError, type RgbImage, checkDimensions, truncated } from "./types.js";

/** True when the bytes start with a GIF signature. */
export function isGif(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46 &&
    bytes[3] === 0x38 && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61;
}

interface Frame {
  x: number;
  y: number;
  width: number;
  height: number;
  interlaced: boolean;
  palette: Uint8Array | undefined;
  transparency: number | undefined;
  dataStart: number;
}

/** Decodes the first frame of a GIF into 8-bit RGB. */
export function decodeGif(bytes: Uint8Array, limits?: DecodeLimits): RgbImage {
  if (bytes.length < 13) throw truncated("GIF", "the header is incomplete");
  const screenW = u16(bytes, 6);
  const screenH = u16(bytes, 8);
  const flags = bytes[10];
  let pos = 13;
  let globalPalette: Uint8Array | undefined;
  if (flags & 0x80) {
    const size = 3 << ((flags & 7) + 1);
    if (pos + size > bytes.length) throw truncated("GIF", "the colour table is incomplete");
    globalPalette = bytes.subarray(pos, pos + size);
    pos += size;
  }
  const frame = findFirstFrame(bytes, pos);
  const width = Math.max(screenW, frame.x + frame.width);
  const height = Math.max(screenH, frame.y + frame.height);
  checkDimensions("GIF", width, height, limits);

  const indices = new Uint8Array(width * height).fill(frame.transparency ?? 0);
  decodeLzw(bytes, frame, indices, width);

  const table = colourTable(frame.palette ?? globalPalette);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; i < indices.length; i++, o += 3) {
    const p = indices[i] * 3;
    data[o] = table[p];
    data[o + 1] = table[p + 1];
    data[o + 2] = table[p + 2];
  }
  return { width, height, data };
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

/** Walks extension blocks up to the first image descriptor; remembers the graphic-control transparency. */
function findFirstFrame(bytes: Uint8Array, start: number): Frame {
  let pos = start;
  let transparency: number | undefined;
  while (pos < bytes.length) {
    const tag = bytes[pos++];
    if (tag === 0x3b) break; // trailer
    if (tag === 0x21) {
      const label = bytes[pos++];
      if (label === 0xf9 && pos < bytes.length && bytes[pos] >= 4 && pos + 4 < bytes.length) {
        if (bytes[pos + 1] & 1) transparency = bytes[pos + 4];
      }
      pos = skipSubBlocks(bytes, pos);
    } else if (tag === 0x2c) {
      if (pos + 9 > bytes.length) throw truncated("GIF", "the image descriptor is incomplete");
      const frame: Frame = {
        x: u16(bytes, pos), y: u16(bytes, pos + 2), width: u16(bytes, pos + 4), height: u16(bytes, pos + 6),
        interlaced: (bytes[pos + 8] & 0x40) !== 0, palette: undefined, transparency, dataStart: 0,
      };
      const flags = bytes[pos + 8];
      pos += 9;
      if (flags & 0x80) {
        const size = 3 << ((flags & 7) + 1);
        if (pos + size > bytes.length) throw truncated("GIF", "the local colour table is incomplete");
        frame.palette = bytes.subarray(pos, pos + size);
        pos += size;
      }
      if (pos >= bytes.length) throw truncated("GIF", "no image data");
      frame.dataStart = pos;
      return frame;
    }
    // Pillow skips unknown bytes between blocks; so do we.
  }
  throw new ImageDecodeError("The GIF file contains no image frame.", "Send a GIF with at least one frame, or a PNG/JPEG.");
}

function skipSubBlocks(bytes: Uint8Array, start: number): number {
  let pos = start;
  while (pos < bytes.length) {
    const n = bytes[pos];
    pos += 1 + n;
    if (n === 0) return pos;
  }
  throw truncated("GIF", "an extension block is cut off");
}

/** 256-entry RGB table: the GIF's colours first, Pillow's grey ramp for everything else. */
function colourTable(palette: Uint8Array | undefined): Uint8Array {
  const table = new Uint8Array(768);
  for (let i = 0; i < 256; i++) table[i * 3] = table[i * 3 + 1] = table[i * 3 + 2] = i;
  if (palette) table.set(palette.subarray(0, 768));
  return table;
}

/** Rows of an interlaced frame in the order they are stored. */
function rowOrder(height: number, interlaced: boolean): Int32Array {
  const order = new Int32Array(height);
  if (!interlaced) {
    for (let i = 0; i < height; i++) order[i] = i;
    return order;
  }
  let n = 0;
  for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]]) {
    for (let y = start; y < height; y += step) order[n++] = y;
  }
  return order;
}

const MAX_CODES = 4096;

/** LZW-decodes the frame's data sub-blocks straight onto the canvas of palette indices. */
function decodeLzw(bytes: Uint8Array, frame: Frame, canvas: Uint8Array, canvasWidth: number): void {
  const minSize = bytes[frame.dataStart];
  if (minSize < 1 || minSize > 11) {
    throw new ImageDecodeError(`The GIF file is corrupt (LZW code size ${minSize}).`, "Send an undamaged file.");
  }
  const total = frame.width * frame.height;
  if (total === 0) return;
  const rows = rowOrder(frame.height, frame.interlaced);
  const clear = 1 << minSize;
  const eoi = clear + 1;
  const prefix = new Int32Array(MAX_CODES);
  const suffix = new Uint8Array(MAX_CODES);
  const first = new Uint8Array(MAX_CODES);
  const stack = new Uint8Array(MAX_CODES + 1);
  for (let i = 0; i < clear; i++) {
    suffix[i] = i;
    first[i] = i;
    prefix[i] = -1;
  }
  let codeSize = minSize + 1;
  let next = eoi + 1;
  let prev = -1;
  let written = 0;

  let pos = frame.dataStart + 1;
  let blockLeft = 0;
  let acc = 0;
  let nbits = 0;
  let ended = false;

  const put = (value: number): void => {
    if (written >= total) return;
    const y = rows[Math.floor(written / frame.width)];
    const x = written % frame.width;
    canvas[(frame.y + y) * canvasWidth + frame.x + x] = value;
    written++;
  };

  while (written < total) {
    while (nbits < codeSize) {
      if (blockLeft === 0) {
        if (pos >= bytes.length) throw truncated("GIF", "the image data ends early");
        blockLeft = bytes[pos++];
        if (blockLeft === 0) {
          ended = true; // block terminator before the end code
          break;
        }
      }
      if (pos >= bytes.length) throw truncated("GIF", "the image data ends early");
      acc |= bytes[pos++] << nbits;
      nbits += 8;
      blockLeft--;
    }
    if (ended) break;
    const code = acc & ((1 << codeSize) - 1);
    acc >>>= codeSize;
    nbits -= codeSize;

    if (code === clear) {
      codeSize = minSize + 1;
      next = eoi + 1;
      prev = -1;
      continue;
    }
    if (code === eoi) break;
    if (prev === -1) {
      if (code >= clear) throw corrupt();
      put(suffix[code]);
      prev = code;
      continue;
    }
    let cur = code;
    let sp = 0;
    if (code >= next) {
      if (code > next || next >= MAX_CODES) throw corrupt();
      stack[sp++] = first[prev]; // the KwKwK case: the new string is prev + first(prev)
      cur = prev;
    }
    while (cur >= clear) {
      stack[sp++] = suffix[cur];
      cur = prefix[cur];
    }
    stack[sp++] = suffix[cur];
    const head = suffix[cur];
    while (sp > 0) put(stack[--sp]);
    if (next < MAX_CODES) {
      prefix[next] = prev;
      suffix[next] = head;
      first[next] = first[prev];
      next++;
      if (next === 1 << codeSize && codeSize < 12) codeSize++;
    }
    prev = code;
  }
  // Pillow refuses a frame whose data stops before its last pixel ("image file is truncated").
  if (written < total) throw truncated("GIF", `the frame data stops after ${written} of ${total} pixels`);
}

function corrupt(): ImageDecodeError {
  return new ImageDecodeError("The GIF file is corrupt (invalid LZW code).", "Send an undamaged file.");
}
