// Checkpoint loading: pick the weights file(s) of a Hugging Face model folder the way transformers
// does (safetensors first, then pytorch_model.bin; single file or sharded index) and read them.
import * as fs from "node:fs";
import * as path from "node:path";
import { readSafetensors } from "./safetensors.js";
import { readTorchCheckpoint } from "./torch.js";
import { CheckpointError, type Checkpoint, type ReadOptions, type TensorEntry } from "./types.js";

export { CheckpointError, DTYPE_SIZE, type Checkpoint, type DType, type ReadOptions, type TensorEntry } from "./types.js";
export { readSafetensors, type SafetensorsCheckpoint } from "./safetensors.js";
export { readTorchCheckpoint } from "./torch.js";

/** The weight files transformers looks for, in its order of preference. */
const CANDIDATES = [
  { file: "model.safetensors", read: readSafetensors, sharded: false },
  { file: "model.safetensors.index.json", read: readSafetensors, sharded: true },
  { file: "pytorch_model.bin", read: readTorchCheckpoint, sharded: false },
  { file: "pytorch_model.bin.index.json", read: readTorchCheckpoint, sharded: true },
] as const;

/**
 * Opens the weights of a model folder: `model.safetensors` (or its sharded index) if present, else
 * `pytorch_model.bin` (or its index). A path to a single weights file is accepted too.
 */
export function openCheckpoint(folder: string, opts: ReadOptions = {}): Checkpoint {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(folder);
  } catch {
    throw new CheckpointError(`model folder ${folder} does not exist`);
  }
  if (stat.isFile()) return openFile(folder, opts);
  for (const c of CANDIDATES) {
    const p = path.join(folder, c.file);
    if (fs.existsSync(p)) return c.sharded ? openSharded(p, c.read, opts) : c.read(p, opts);
  }
  throw new CheckpointError(
    `no weights in ${folder}: expected ${CANDIDATES.map((c) => c.file).join(", ")} (a Hugging Face model folder)`,
  );
}

function openFile(file: string, opts: ReadOptions): Checkpoint {
  if (file.endsWith(".safetensors")) return readSafetensors(file, opts);
  if (file.endsWith(".index.json")) return openSharded(file, file.includes(".safetensors") ? readSafetensors : readTorchCheckpoint, opts);
  if (file.endsWith(".bin") || file.endsWith(".pt") || file.endsWith(".pth")) return readTorchCheckpoint(file, opts);
  throw new CheckpointError(`${file}: unknown weights file type; expected .safetensors, .bin or an .index.json`);
}

/** A sharded checkpoint: `weight_map` in the index names the shard file of every tensor. */
function openSharded(indexPath: string, read: (p: string, o: ReadOptions) => Checkpoint, opts: ReadOptions): Checkpoint {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
  } catch (e) {
    throw new CheckpointError(`${indexPath} is not valid JSON (${(e as Error).message})`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(`${indexPath} has no "weight_map" object mapping tensor names to shard files`);
  }
  const dir = path.dirname(indexPath);
  const shards = new Map<string, { ckpt: Checkpoint; names: Set<string> }>();
  const owner = new Map<string, Checkpoint>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    // Shard names are plain file names next to the index; anything else could escape the folder.
    if (typeof shard !== "string" || shard !== path.basename(shard) || shard === "." || shard === "..") {
      throw new CheckpointError(`${indexPath}: tensor "${name}" maps to ${JSON.stringify(shard)}, which is not a file name in the same folder`);
    }
    let opened = shards.get(shard);
    if (!opened) {
      const ckpt = read(path.join(dir, shard), opts);
      opened = { ckpt, names: new Set(ckpt.names()) };
      shards.set(shard, opened);
    }
    if (!opened.names.has(name)) {
      throw new CheckpointError(`${indexPath}: tensor "${name}" should be in ${shard} but that file does not contain it`);
    }
    owner.set(name, opened.ckpt);
  }
  return {
    files: [...shards.values()].flatMap((s) => s.ckpt.files),
    names: () => [...owner.keys()],
    get: (name: string): TensorEntry | undefined => owner.get(name)?.get(name),
  };
}
