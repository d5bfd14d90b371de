// safetensors writer: the inverse of the reader, streamed tensor by tensor so large models never
// sit twice in memory. Files it writes load in transformers (`{"format": "pt"}` metadata).
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import type { DType } from "./types.js";

const DTYPE_CODES: Record<DType, string> = {
  float32: "F32", float16: "F16", bfloat16: "BF16", float64: "F64", int64: "I64", int32: "I32", int8: "I8", uint8: "U8", bool: "BOOL",
};

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** The little-endian bytes, produced when the tensor is written. */
  bytes: () => Uint8Array;
  byteLength: number;
}

export interface WriteOptions {
  /** fsync the file before it replaces `path`, and the folder after, so a crash leaves the old file or the whole new one. */
  durable?: boolean;
}

/**
 * Writes `tensors` (in the given order) to `path` through a temporary file renamed into place; the
 * header is padded to 8 bytes as the reference does. Metadata must keep `format: "pt"` for transformers.
 */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = { format: "pt" }, opts: WriteOptions = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: DTYPE_CODES[t.dtype], shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offset += t.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(`${path}.partial`, "w");
  try {
    fs.writeSync(fd, length);
    fs.writeSync(fd, json);
    for (const t of tensors) {
      const bytes = t.bytes();
      if (bytes.byteLength !== t.byteLength) throw new Error(`${t.name}: ${bytes.byteLength} bytes, expected ${t.byteLength}`);
      fs.writeSync(fd, bytes);
    }
    if (opts.durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(`${path}.partial`, path);
  if (opts.durable) fsyncFolder(dirname(path));
}

/** Makes a rename in `folder` durable (its directory entry reaches the disk). */
export function fsyncFolder(folder: string): void {
  const fd = fs.openSync(folder, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** transformers' default `max_shard_size` ("5GB", decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Writes `tensors` as a Hugging Face checkpoint in `folder`: one `model.safetensors` when they fit in
 * `maxShardBytes`, else `model-0000i-of-0000n.safetensors` shards (tensors kept in order, a new shard
 * when the next would overflow) and `model.safetensors.index.json` with `weight_map`, as
 * `save_pretrained` does. Returns the files written.
 */
export function writeSafetensorsCheckpoint(folder: string, tensors: readonly TensorToWrite[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): string[] {
  const shards: TensorToWrite[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    if (size > 0 && size + t.byteLength > maxShardBytes) shards.push([]), (size = 0);
    shards.at(-1)!.push(t);
    size += t.byteLength;
  }
  if (shards.length === 1) {
    writeSafetensors(join(folder, "model.safetensors"), tensors);
    return ["model.safetensors"];
  }
  const pad = (i: number) => String(i).padStart(5, "0");
  const names = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    writeSafetensors(join(folder, names[i]!), shard);
    for (const t of shard) weightMap[t.name] = names[i]!;
  });
  const totalSize = tensors.reduce((s, t) => s + t.byteLength, 0);
  fs.writeFileSync(join(folder, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return [...names, "model.safetensors.index.json"];
}
