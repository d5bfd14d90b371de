// A small ZIP reader for torch checkpoints: central directory (with ZIP64), STORED and DEFLATE
// entries. torch.save writes uncompressed entries aligned to 64 bytes, so tensors can be views.
import * as zlib from "node:zlib";
import { CheckpointError, type FileBytes } from "./types.js";

/** One file inside a ZIP archive. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Absolute offset of the entry's (possibly compressed) data in the archive file. */
  dataOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`zip ${what} ${v} is too large`);
  return Number(v);
}

/** Reads the central directory of the ZIP archive in `file`; entries keyed by name. */
export function readZipDirectory(file: FileBytes): Map<string, ZipEntry> {
  const bad = (why: string) => new CheckpointError(`${file.path} is not a readable zip archive: ${why}; the file is truncated or corrupt`);
  if (file.size < EOCD_SIZE) throw bad(`only ${file.size} bytes`);

  // The end-of-central-directory record sits at the end, after an optional comment of <= 64 KiB.
  const tailLen = Math.min(file.size, EOCD_SIZE + MAX_COMMENT);
  const tail = file.slice(file.size - tailLen, tailLen, "zip end record");
  const tv = view(tail);
  let eocd = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    // The comment length must reach exactly to the end, or this is a stray signature in the data.
    if (tv.getUint32(i, true) === SIG_EOCD && tv.getUint16(i + 20, true) === tailLen - i - EOCD_SIZE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad("no end-of-central-directory record");
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);

  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    // ZIP64: a locator just before the EOCD points at the 64-bit end record.
    const locAbs = file.size - tailLen + eocd - 20;
    if (locAbs < 0) throw bad("ZIP64 fields without a ZIP64 locator");
    const loc = view(file.slice(locAbs, 20, "zip64 locator"));
    if (loc.getUint32(0, true) !== SIG_EOCD64_LOCATOR) throw bad("ZIP64 fields without a ZIP64 locator");
    const rec = view(file.slice(u64(loc, 8, "zip64 record offset"), 56, "zip64 end record"));
    if (rec.getUint32(0, true) !== SIG_EOCD64) throw bad("bad ZIP64 end record");
    count = u64(rec, 32, "entry count");
    cdSize = u64(rec, 40, "central directory size");
    cdOffset = u64(rec, 48, "central directory offset");
  }

  const cd = file.slice(cdOffset, cdSize, "zip central directory");
  const cv = view(cd);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) throw bad(`central directory entry ${i} is damaged`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc32 = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw bad(`central directory entry ${i} runs past its end`);
    const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString("utf8");
    if (flags & 1) throw new CheckpointError(`${file.path}: zip entry ${name} is encrypted; torch checkpoints are never encrypted`);

    // ZIP64 extra field: 64-bit values for exactly those fields that hold 0xFFFFFFFF, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (what: string) => {
          if (q + 8 > e + 4 + len) throw bad(`ZIP64 extra field of ${name} is too short`);
          const v = u64(cv, q, what);
          q += 8;
          return v;
        };
        if (size === U32_MAX) size = next("size");
        if (compressedSize === U32_MAX) compressedSize = next("compressed size");
        if (localOffset === U32_MAX) localOffset = next("local header offset");
      }
      e += 4 + len;
    }

    // The data starts after the *local* header, whose extra field (torch's alignment padding)
    // may differ in length from the central directory's copy.
    const local = view(file.slice(localOffset, 30, `local header of ${name}`));
    if (local.getUint32(0, true) !== SIG_LOCAL) throw bad(`local header of ${name} is missing`);
    const dataOffset = localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataOffset + compressedSize > file.size) throw bad(`entry ${name} runs past the end of the file`);
    entries.set(name, { name, method, compressedSize, size, crc32, dataOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * The uncompressed bytes of `entry`: a view into the archive for STORED entries, a fresh buffer
 * for DEFLATE ones. `checkCrc` verifies the CRC-32 (costly for big tensors, cheap for data.pkl).
 */
export function readZipEntry(file: FileBytes, entry: ZipEntry, checkCrc = false): Uint8Array {
  const raw = file.slice(entry.dataOffset, entry.compressedSize, `zip entry ${entry.name}`);
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) throw new CheckpointError(`${file.path}: stored zip entry ${entry.name} has inconsistent sizes`);
    data = raw;
  } else if (entry.method === 8) {
    try {
      data = zlib.inflateRawSync(raw);
    } catch (e) {
      throw new CheckpointError(`${file.path}: zip entry ${entry.name} does not inflate (${(e as Error).message}); the file is corrupt`);
    }
    if (data.length !== entry.size) throw new CheckpointError(`${file.path}: zip entry ${entry.name} inflates to ${data.length} bytes, expected ${entry.size}`);
  } else {
    throw new CheckpointError(
      `${file.path}: zip entry ${entry.name} uses compression method ${entry.method}; only stored (0) and deflate (8) are supported — ` +
        `re-save it with torch.save or convert it to safetensors`,
    );
  }
  if (checkCrc && (zlib.crc32(data) >>> 0) !== entry.crc32) {
    throw new CheckpointError(`${file.path}: zip entry ${entry.name} fails its CRC-32 check; the file is corrupt`);
  }
  return data;
}
