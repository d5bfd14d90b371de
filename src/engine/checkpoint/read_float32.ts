// Reading one float32 weight stored raw in a checkpoint file, for the load-time quantiser (on the
// main thread and on its worker threads: each thread has its own scratch buffer, as modules are
// per thread).
import { readInto } from "./types.js";

/** A byte range of a file. */
export interface FileRange {
  file: string;
  offset: number;
  length: number;
}

/** Weights larger than this get a buffer of their own (OPT-2.7B's 105 MB fc weights, its 515 MB head). */
const SCRATCH_MAX_BYTES = 64 * 1024 * 1024;
let scratch: ArrayBuffer | null = null;

/**
 * The float32 weight `name` at `source`, read into this thread's scratch buffer (valid until the next
 * call). A fresh buffer per weight costs page faults; measured with a quantising worker thread, two
 * threads faulting in and freeing buffers slowed each other down (reads 2.6× slower).
 */
export function readFloat32(source: FileRange, name: string): Float32Array {
  if (source.length > SCRATCH_MAX_BYTES) return new Float32Array(readRange(source, new ArrayBuffer(source.length), name));
  if (!scratch || scratch.byteLength < source.length) {
    scratch = new ArrayBuffer(Math.min(SCRATCH_MAX_BYTES, Math.max(source.length, 2 * (scratch?.byteLength ?? 0))));
  }
  return new Float32Array(readRange(source, scratch, name), 0, source.length / 4);
}

/** Drops this thread's scratch buffer (a load is over). */
export function releaseScratch(): void {
  scratch = null;
}

function readRange(source: FileRange, into: ArrayBuffer, name: string): ArrayBuffer {
  readInto(source.file, source.offset, new Uint8Array(into, 0, source.length), `tensor ${name}`);
  return into;
}
