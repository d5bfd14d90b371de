// The weight builder handed to model constructors, like candle's VarBuilder: `weights.at("encoder")`
// extends the prefix, `get(name, shape)` fetches a tensor by its Hugging Face name and checks its
// shape at load time. Names are never written whole by hand; they come from prefixes.
import { Param, type DType, type WeightData } from "./graph.js";
import type { Checkpoint, TensorEntry } from "./checkpoint/types.js";

export class WeightError extends Error {
  override name = "WeightError";
}

/** Makes the values of a weight that no checkpoint holds (random init of a new model). */
export type Initialiser = (name: string, shape: readonly number[]) => Float32Array;

/** State shared by all prefixed views of one checkpoint: what was fetched, converted once. */
class WeightStore {
  readonly used = new Set<string>();
  readonly params = new Map<string, Param>();
  constructor(
    readonly checkpoint: Checkpoint,
    readonly init: Initialiser | null = null,
  ) {}
}

const EMPTY_CHECKPOINT: Checkpoint = { files: [], names: () => [], get: () => undefined };

export class Weights {
  private constructor(
    private readonly store: WeightStore,
    readonly prefix: string,
  ) {}

  /** The root view over a checkpoint. */
  static of(checkpoint: Checkpoint): Weights {
    return new Weights(new WeightStore(checkpoint), "");
  }

  /** Weights created on demand by `init` (a new model); `params()` then lists them in creation order. */
  static initialised(init: Initialiser): Weights {
    return new Weights(new WeightStore(EMPTY_CHECKPOINT, init), "");
  }

  /** Every weight fetched so far, by full name. */
  params(): ReadonlyMap<string, Param> {
    return this.store.params;
  }

  /** A view whose names start with `prefix.`: `weights.at("encoder").at("layer").at(3)`. */
  at(...parts: (string | number)[]): Weights {
    return new Weights(this.store, [this.prefix, ...parts.map(String)].filter(Boolean).join("."));
  }

  private full(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  /** Whether the checkpoint has `name` under this prefix. */
  has(name: string): boolean {
    return this.store.checkpoint.get(this.full(name)) !== undefined;
  }

  /** The float32 weight `name` of exactly `shape`; throws naming the full path if absent or mis-shaped. */
  get(name: string, shape: readonly number[]): Param {
    const full = this.full(name);
    const cached = this.store.params.get(full);
    if (cached) return checkShape(cached.shape, shape, full), cached;
    const entry = this.store.checkpoint.get(full);
    if (!entry && this.store.init) {
      const values = this.store.init(full, shape);
      const param = new Param(full, { dtype: "float32", shape, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
      this.store.params.set(full, param);
      return param;
    }
    if (!entry) throw new WeightError(`the checkpoint has no tensor ${full} (expected shape [${shape.join(", ")}]); does config.json describe these weights (model type and size)?`);
    checkShape(entry.shape, shape, full);
    const param = new Param(full, asFloat32(entry));
    this.store.used.add(full);
    this.store.params.set(full, param);
    return param;
  }

  /** Marks a tensor that the checkpoint stores but the model ties to another (e.g. an aliased bias). */
  tied(name: string): void {
    const full = this.full(name);
    if (this.store.checkpoint.get(full)) this.store.used.add(full);
  }

  /** Marks a tensor the model deliberately does not use (e.g. a part another library version has), so it is not reported. */
  ignored(name: string): void {
    this.tied(name);
  }

  /** Checkpoint tensors that no module fetched (reported after building, to catch name mismatches). */
  unused(): string[] {
    return this.store.checkpoint.names().filter((n) => !this.store.used.has(n));
  }
}

function checkShape(actual: readonly number[], expected: readonly number[], name: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new WeightError(`${name} has shape [${actual.join(", ")}] but the config implies [${expected.join(", ")}]; config.json and the weights disagree`);
  }
}

/** fp16/bf16/fp64 checkpoints are widened to float32 once, at load; float32 stays a zero-copy view. */
function asFloat32(e: TensorEntry): WeightData {
  const shape = e.shape;
  // A getter: when the graph references the file in place (external data), the bytes are never read.
  if (e.dtype === "float32") return { dtype: "float32", shape, get bytes() { return e.bytes; }, source: e.source };
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const bytes = e.bytes; // a lazy checkpoint reads the file at each access of `bytes`: once here
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read: Partial<Record<DType, (i: number) => number>> = {
    float16: (i) => halfToFloat(view.getUint16(2 * i, true)),
    bfloat16: (i) => bf16ToFloat(view.getUint16(2 * i, true)),
    float64: (i) => view.getFloat64(8 * i, true),
  };
  const r = read[e.dtype as DType];
  if (!r) throw new WeightError(`${e.name} has dtype ${e.dtype}; only floating-point weights can be loaded`);
  for (let i = 0; i < n; i++) out[i] = r(i);
  return { dtype: "float32", shape, bytes: new Uint8Array(out.buffer), source: null };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
