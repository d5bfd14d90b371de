// pytorch_model.bin reader (the zip format of torch >= 1.6): `<archive>/data.pkl` is a pickled
// state dict whose tensors point, via persistent ids, at raw storages `<archive>/data/<key>`.
// The pickle goes through the restricted unpickler with an allow-list of tensor-rebuild globals.
import { unpickle, type PickleTuple, type UnpickleHooks } from "./pickle.js";
import { CheckpointError, DTYPE_SIZE, FileBytes, numelOf, type Checkpoint, type DType, type ReadOptions, type TensorEntry } from "./types.js";
import { readZipDirectory, readZipEntry, type ZipEntry } from "./zip.js";

const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: "float32", HalfStorage: "float16", BFloat16Storage: "bfloat16", DoubleStorage: "float64",
  LongStorage: "int64", IntStorage: "int32", CharStorage: "int8", ByteStorage: "uint8", BoolStorage: "bool",
};

/** A Python global the allow-list lets through; it is a name, never something that runs. */
class AllowedGlobal {
  constructor(readonly qualname: string, readonly storageDtype: DType | null = null) {}
}

const ALLOWED_GLOBALS: ReadonlyMap<string, AllowedGlobal> = new Map([
  ...["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter"]
    .map((q) => [q, new AllowedGlobal(q)] as const),
  ...Object.entries(STORAGE_DTYPES).map(([cls, dtype]) => [`torch.${cls}`, new AllowedGlobal(`torch.${cls}`, dtype)] as const),
]);

/** A storage named by a persistent id; its bytes stay in the zip until a tensor needs them. */
class StorageRef {
  constructor(readonly dtype: DType, readonly key: string, readonly numel: number, readonly entry: ZipEntry) {}
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

/** Reads a torch.save zip checkpoint (`pytorch_model.bin`) holding a state dict of tensors. */
export function readTorchCheckpoint(path: string, opts: ReadOptions = {}): Checkpoint {
  const file = FileBytes.open(path, opts);
  rejectLegacyFormats(file);
  const zip = readZipDirectory(file);
  const prefix = archivePrefix(path, zip);
  const littleEndian = readByteOrder(file, zip, prefix);
  const pkl = readZipEntry(file, zip.get(`${prefix}/data.pkl`)!, true);
  const root = unpickle(pkl, torchHooks(path, zip, prefix), `${path} (${prefix}/data.pkl)`);
  const tensors = stateDictTensors(path, root);

  const storageBytes = new Map<string, Uint8Array>();
  const bytesOf = (s: StorageRef): Uint8Array => {
    let b = storageBytes.get(s.key);
    if (!b) {
      b = readZipEntry(file, s.entry);
      if (!littleEndian) b = byteSwapped(b, DTYPE_SIZE[s.dtype]);
      // Huge files are read per tensor; caching would end up holding the whole file.
      if (file.inMemory) storageBytes.set(s.key, b);
    }
    return b;
  };

  return {
    files: [path],
    names: () => [...tensors.keys()],
    get(name: string): TensorEntry | undefined {
      const t = tensors.get(name);
      if (!t) return undefined;
      const size = DTYPE_SIZE[t.storage.dtype];
      const numel = numelOf(t.shape, name);
      const contiguous = isContiguous(t.shape, t.stride);
      const storage = bytesOf(t.storage);
      const bytes = contiguous
        ? storage.subarray(t.offset * size, (t.offset + numel) * size)
        : gatherStrided(storage, size, t);
      const raw = contiguous && littleEndian && t.storage.entry.method === 0;
      return {
        name, dtype: t.storage.dtype, shape: [...t.shape], bytes,
        source: raw ? { file: path, offset: t.storage.entry.dataOffset + t.offset * size, length: numel * size } : null,
      };
    },
  };
}

function rejectLegacyFormats(file: FileBytes): void {
  const head = file.slice(0, Math.min(file.size, 4), "file signature");
  if (head[0] === 0x50 && head[1] === 0x4b) return; // "PK": a zip archive
  const reason = head[0] === 0x80
    ? "it is in the legacy (pre-1.6, non-zip) torch.save format"
    : "it is not a zip archive (torch >= 1.6 writes pytorch_model.bin as a zip)";
  throw new CheckpointError(
    `cannot read ${file.path}: ${reason}. Re-save it with a recent torch (torch.save(torch.load(f), f)) or convert it to model.safetensors`,
  );
}

// torch names every record `<archive>/...`, where archive is the file's stem at save time.
function archivePrefix(path: string, zip: Map<string, ZipEntry>): string {
  const prefixes = [...zip.keys()].map((n) => /^([^/]+)\/data\.pkl$/.exec(n)?.[1]).filter((p): p is string => p !== undefined);
  if (prefixes.length === 1) return prefixes[0]!;
  if (prefixes.length > 1) throw new CheckpointError(`${path} holds several pickles (${prefixes.join(", ")}); expected one torch.save archive`);
  const torchscript = [...zip.keys()].some((n) => n.endsWith("/constants.pkl"));
  throw new CheckpointError(
    `${path} is a zip without <archive>/data.pkl, so not a torch.save checkpoint` +
      (torchscript ? " (it looks like a TorchScript module; save its state_dict() instead)" : ""),
  );
}

function readByteOrder(file: FileBytes, zip: Map<string, ZipEntry>, prefix: string): boolean {
  const entry = zip.get(`${prefix}/byteorder`);
  if (!entry) return true; // torch < 2.1 wrote no record and only ever ran little-endian here
  const order = Buffer.from(readZipEntry(file, entry)).toString("latin1").trim();
  if (order !== "little" && order !== "big") throw new CheckpointError(`${file.path}: unknown byteorder record ${JSON.stringify(order)}`);
  return order === "little";
}

function torchHooks(path: string, zip: Map<string, ZipEntry>, prefix: string): UnpickleHooks {
  const fail = (why: string): never => {
    throw new CheckpointError(`${path}: ${why}`);
  };
  const storages = new Map<string, StorageRef>();
  return {
    findGlobal(module, name) {
      const g = ALLOWED_GLOBALS.get(`${module}.${name}`);
      if (!g) {
        throw new CheckpointError(
          `refusing to load ${path}: the pickle references \`${module}.${name}\`, which is not a tensor; ` +
            `only state dicts of tensors are loaded (nothing was executed)`,
        );
      }
      return g;
    },
    persistentLoad(pid) {
      const t = pid as PickleTuple;
      if (!Array.isArray(t) || t.length !== 5 || t[0] !== "storage" || !(t[1] instanceof AllowedGlobal) || !t[1].storageDtype) {
        return fail("the pickle has a persistent id that is not a ('storage', <type>, key, location, numel) record");
      }
      const [, type, key, , numel] = t as [string, AllowedGlobal, unknown, unknown, unknown];
      if (typeof key !== "string" || !Number.isSafeInteger(numel) || (numel as number) < 0) return fail(`bad storage record for key ${String(key)}`);
      const known = storages.get(key);
      if (known) return known;
      const entry = zip.get(`${prefix}/data/${key}`);
      if (!entry) return fail(`storage ${prefix}/data/${key} is missing from the zip; the file is truncated or corrupt`);
      const dtype = type.storageDtype!;
      if (entry.size !== (numel as number) * DTYPE_SIZE[dtype]) {
        return fail(`storage ${key} should hold ${numel as number} ${dtype} values (${(numel as number) * DTYPE_SIZE[dtype]} bytes) but has ${entry.size} bytes`);
      }
      const ref = new StorageRef(dtype, key, numel as number, entry);
      storages.set(key, ref);
      return ref;
    },
    call(callable, args) {
      const q = callable instanceof AllowedGlobal ? callable.qualname : null;
      if (q === "collections.OrderedDict") {
        if (args.length !== 0) fail("OrderedDict is only accepted empty (items follow as SETITEMS)");
        return new Map();
      }
      if (q === "torch._utils._rebuild_tensor_v2" || q === "torch._utils._rebuild_tensor") return rebuildTensor(path, args);
      if (q === "torch._utils._rebuild_parameter") {
        if (!(args[0] instanceof TensorRef)) fail("_rebuild_parameter of something that is not a tensor");
        return args[0];
      }
      return fail(`the pickle calls ${q ?? "a non-callable value"}, which a state dict never does`);
    },
    build(obj, state) {
      // OrderedDict state is its __dict__ ({_metadata: versions per module}): not needed for inference.
      if (obj instanceof Map && (state === null || state instanceof Map)) return;
      fail("the pickle sets object state on something other than a dict");
    },
  };
}

function intTuple(v: unknown): number[] | null {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) ? [...(v as number[])] : null;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
function rebuildTensor(path: string, args: PickleTuple): TensorRef {
  const [storage, offset] = args;
  const shape = intTuple(args[2]);
  const stride = intTuple(args[3]);
  if (!(storage instanceof StorageRef)) throw new CheckpointError(`${path}: a tensor is rebuilt from something that is not a storage`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || !shape || !stride || shape.length !== stride.length) {
    throw new CheckpointError(`${path}: a tensor has a malformed offset/size/stride`);
  }
  const t = new TensorRef(storage, offset as number, shape, stride);
  const numel = numelOf(shape, path);
  const last = numel === 0 ? 0 : t.offset + shape.reduce((acc, d, i) => acc + (d - 1) * stride[i]!, 0);
  if (numel > 0 && last >= t.storage.numel) {
    throw new CheckpointError(`${path}: a tensor of shape [${shape.join(", ")}] reaches past the end of its storage ${t.storage.key}`);
  }
  return t;
}

function stateDictTensors(path: string, root: unknown): Map<string, TensorRef> {
  if (!(root instanceof Map)) throw new CheckpointError(`${path}: the pickle is not a dict of tensors (a state dict)`);
  const out = new Map<string, TensorRef>();
  for (const [k, v] of root) {
    if (typeof k !== "string") throw new CheckpointError(`${path}: the state dict has a non-string key ${String(k)}`);
    if (!(v instanceof TensorRef)) throw new CheckpointError(`${path}: state dict entry "${k}" is not a tensor; only state dicts of tensors are loaded`);
    out.set(k, v);
  }
  return out;
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 0) return true;
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Copies a strided view into a fresh row-major buffer (HF state dicts are contiguous; others may not be). */
function gatherStrided(storage: Uint8Array, size: number, t: TensorRef): Uint8Array {
  const numel = numelOf(t.shape, "tensor");
  const out = new Uint8Array(numel * size);
  const index = new Array<number>(t.shape.length).fill(0);
  let src = t.offset;
  for (let n = 0; n < numel; n++) {
    out.set(storage.subarray(src * size, (src + 1) * size), n * size);
    // Odometer increment over the shape, moving `src` by the strides.
    for (let d = t.shape.length - 1; d >= 0; d--) {
      index[d]!++;
      src += t.stride[d]!;
      if (index[d]! < t.shape[d]!) break;
      src -= t.stride[d]! * t.shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}

function byteSwapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j]!;
  return out;
}
