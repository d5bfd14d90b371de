// safetensors reader: 8-byte little-endian header length, a JSON header mapping names to
// {dtype, shape, data_offsets}, then the raw little-endian data. Tensors are views into one buffer.
import { CheckpointError, DTYPE_SIZE, FileBytes, numelOf, type Checkpoint, type DType, type ReadOptions, type TensorEntry } from "./types.js";

const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  F32: "float32", F16: "float16", BF16: "bfloat16", F64: "float64",
  I64: "int64", I32: "int32", I8: "int8", U8: "uint8", BOOL: "bool",
};

// The reference implementation refuses headers above 100 MB; a bigger one means a corrupt file.
const MAX_HEADER_BYTES = 100_000_000;

interface Located {
  dtype: DType;
  shape: number[];
  offset: number; // absolute, in the file
  length: number;
}

/** A safetensors checkpoint, with the header's `__metadata__` string map (e.g. `{format: "pt"}`). */
export interface SafetensorsCheckpoint extends Checkpoint {
  readonly metadata: Readonly<Record<string, string>> | null;
}

/** Reads a `.safetensors` file; every tensor's bytes are a view into one file buffer. */
export function readSafetensors(path: string, opts: ReadOptions = {}): SafetensorsCheckpoint {
  const file = FileBytes.open(path, opts);
  const { tensors, metadata } = parseHeader(file);
  return {
    files: [path],
    metadata,
    names: () => [...tensors.keys()],
    get(name: string): TensorEntry | undefined {
      const t = tensors.get(name);
      if (!t) return undefined;
      return {
        name, dtype: t.dtype, shape: [...t.shape],
        // Read on first use: a graph that references the file in place never needs the bytes in JS.
        get bytes() {
          return file.slice(t.offset, t.length, `tensor ${name}`);
        },
        source: { file: path, offset: t.offset, length: t.length },
      };
    },
  };
}

function parseHeader(file: FileBytes): { tensors: Map<string, Located>; metadata: Record<string, string> | null } {
  const where = file.path;
  if (file.size < 8) throw new CheckpointError(`${where} is not a safetensors file: only ${file.size} bytes, less than the 8-byte header length`);
  const lenBytes = file.slice(0, 8, "header length");
  const headerLen64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(Math.min(MAX_HEADER_BYTES, file.size - 8))) {
    throw new CheckpointError(
      `${where} is not a valid safetensors file: its header claims ${headerLen64} bytes but the file has ${file.size} bytes ` +
        `(truncated download, or not a safetensors file)`,
    );
  }
  const headerLen = Number(headerLen64);
  const dataStart = 8 + headerLen;
  const dataLen = file.size - dataStart;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(file.slice(8, headerLen, "header")).toString("utf8"));
  } catch (e) {
    throw new CheckpointError(`${where}: the safetensors header is not valid JSON (${(e as Error).message}); the file is corrupt`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointError(`${where}: the safetensors header must be a JSON object of tensors`);
  }

  const tensors = new Map<string, Located>();
  let metadata: Record<string, string> | null = null;
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new CheckpointError(`${where}: __metadata__ must be an object of strings`);
      }
      metadata = Object.freeze({ ...(raw as Record<string, string>) });
      continue;
    }
    const what = `${where}: tensor "${name}"`;
    if (typeof raw !== "object" || raw === null) throw new CheckpointError(`${what} has no {dtype, shape, data_offsets} entry`);
    const { dtype: code, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    const dtype = typeof code === "string" ? SAFETENSORS_DTYPES[code] : undefined;
    if (!dtype) {
      throw new CheckpointError(`${what} has dtype ${JSON.stringify(code)}; supported: ${Object.keys(SAFETENSORS_DTYPES).join(", ")}`);
    }
    if (!Array.isArray(shape)) throw new CheckpointError(`${what} has no shape array`);
    const numel = numelOf(shape as number[], what);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new CheckpointError(`${what} needs data_offsets [begin, end] of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > dataLen) {
      throw new CheckpointError(`${what} has data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data section; the file is truncated or corrupt`);
    }
    if (end - begin !== numel * DTYPE_SIZE[dtype]) {
      throw new CheckpointError(
        `${what}: shape [${shape.join(", ")}] of ${dtype} needs ${numel * DTYPE_SIZE[dtype]} bytes but data_offsets span ${end - begin}`,
      );
    }
    tensors.set(name, { dtype, shape: shape as number[], offset: dataStart + begin, length: end - begin });
  }
  checkNoOverlap(where, tensors);
  return { tensors, metadata };
}

// Overlapping ranges would make two tensors share bytes silently; safetensors forbids it.
function checkNoOverlap(where: string, tensors: Map<string, Located>): void {
  const ranges = [...tensors.entries()].filter(([, t]) => t.length > 0).sort((a, b) => a[1].offset - b[1].offset);
  for (let i = 1; i < ranges.length; i++) {
    const [prevName, prev] = ranges[i - 1]!;
    const [name, cur] = ranges[i]!;
    if (cur.offset < prev.offset + prev.length) {
      throw new CheckpointError(`${where}: tensors "${prevName}" and "${name}" overlap in the data section; the file is corrupt`);
    }
  }
}
