// Shared vocabulary of the checkpoint readers: tensor entries, the Checkpoint interface, the error
// type, and FileBytes (how a checkpoint file's bytes are held in memory).
import * as fs from "node:fs";
import { constants as bufferConstants } from "node:buffer";

import { type DType, DTYPE_SIZE } from "../dtype.js";

export { type DType, DTYPE_SIZE };

/** One named tensor of a checkpoint. */
export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Little-endian row-major data; a view into the file buffer where possible (no copy). */
  bytes: Uint8Array;
  /** Absolute byte range in `file` when the data is stored there raw and contiguous, else null. */
  source: { file: string; offset: number; length: number } | null;
}

/** A checkpoint that cannot be read, or that we refuse to read; the message says what to fix. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/** A read-only set of named tensors backed by one or more files. */
export interface Checkpoint {
  readonly files: string[];
  names(): string[];
  get(name: string): TensorEntry | undefined;
}

/** How a reader holds a file: whole in one buffer (views, the default up to 4 GiB) or range by range. */
export interface ReadOptions {
  /** Files larger than this are not loaded whole; each get() reads that tensor's bytes from disk. */
  maxInMemoryBytes?: number;
}

/** Product of a shape's dimensions, checked to stay an exact JS integer. */
export function numelOf(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new CheckpointError(`${what}: bad dimension ${String(d)} in shape [${shape.join(", ")}]`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new CheckpointError(`${what}: shape [${shape.join(", ")}] has too many elements`);
  return n;
}

// readSync moves at most ~2 GiB per call, so big files are read in chunks.
const READ_CHUNK = 1 << 30;

/**
 * The bytes of one checkpoint file. Files that fit in one Buffer are read once and every tensor is a
 * view into that buffer; larger files (> 4 GiB on Node 20) are read range by range on demand.
 */
export class FileBytes {
  private constructor(
    readonly path: string,
    readonly size: number,
    private readonly whole: Buffer | null,
  ) {}

  /** Opens `path`; throws CheckpointError if it is missing or not a regular file. */
  static open(path: string, opts: ReadOptions = {}): FileBytes {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(path);
    } catch {
      throw new CheckpointError(`checkpoint file ${path} does not exist`);
    }
    if (!stat.isFile()) throw new CheckpointError(`checkpoint ${path} is not a regular file`);
    const limit = Math.min(opts.maxInMemoryBytes ?? Infinity, bufferConstants.MAX_LENGTH);
    const whole = stat.size <= limit ? readRange(path, 0, stat.size) : null;
    return new FileBytes(path, stat.size, whole);
  }

  /** True when every slice is a zero-copy view of one buffer holding the whole file. */
  get inMemory(): boolean {
    return this.whole !== null;
  }

  /** Bytes [offset, offset + length) of the file; throws CheckpointError past the end. */
  slice(offset: number, length: number, what = "data"): Uint8Array {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new CheckpointError(
        `${this.path}: ${what} at bytes ${offset}..${offset + length} lies outside the file (${this.size} bytes); the file is truncated or corrupt`,
      );
    }
    if (this.whole) return this.whole.subarray(offset, offset + length);
    return readRange(this.path, offset, length);
  }
}

function readRange(path: string, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  readInto(path, offset, out, "data");
  return out;
}

/**
 * Fills `into` with the bytes of `path` from `offset` on, in reads of at most READ_CHUNK; throws
 * CheckpointError naming `what` if the file ends first (truncated, or changed while being read).
 */
export function readInto(path: string, offset: number, into: Uint8Array, what: string): void {
  const fd = fs.openSync(path, "r");
  try {
    for (let done = 0; done < into.length; ) {
      const n = fs.readSync(fd, into, done, Math.min(READ_CHUNK, into.length - done), offset + done);
      if (n === 0) {
        throw new CheckpointError(
          `${path}: ${what} at bytes ${offset}..${offset + into.length} lies outside the file, which ends at byte ${offset + done}; the file is truncated or corrupt (or changed while being read)`,
        );
      }
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
