// The graph IR under construction: typed tensor handles, nodes that point at them (so autodiff can
// walk the graph), weights that bind lazily to the graph that uses them, and the policy deciding
// how a weight binds (an initializer for inference, a fed input for training). Ops live in
// ops.ts/nn.ts; serialisation in onnx/writer.ts. This file knows no op semantics.
import { type DType } from "./dtype.js";

export type { DType };

/** A dimension: a size, or a symbolic name for a size known only at run time ("batch", "seq"). */
export type Dim = number | string;

/** Raw little-endian weight bytes, optionally with where they live in a file (for zero-copy external data). */
export interface WeightData {
  dtype: DType;
  shape: readonly number[];
  bytes: Uint8Array;
  source?: { file: string; offset: number; length: number } | null;
}

/** A named weight not yet part of any graph; the first op that uses it binds it there (see ParamBinding). */
export class Param {
  constructor(
    readonly name: string,
    readonly data: WeightData,
  ) {}
  get shape(): readonly number[] {
    return this.data.shape;
  }
  get dtype(): DType {
    return this.data.dtype;
  }
}

/** A value in one graph. */
export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: readonly Dim[],
  ) {}
  get rank(): number {
    return this.shape.length;
  }
}

/** A graph value or a weight (bound on use). */
export type Operand = Tensor | Param;

/** An attribute value: integers are INT attributes; wrap floats with `float()`. */
export type AttrValue = number | readonly number[] | string | FloatAttr | FloatsAttr;
export class FloatAttr {
  constructor(readonly value: number) {}
}
export class FloatsAttr {
  constructor(readonly values: readonly number[]) {}
}
/** Marks a FLOAT attribute: `{ epsilon: float(1e-5) }`. */
export const float = (v: number) => new FloatAttr(v);
/** Marks a FLOATS attribute. */
export const floats = (v: readonly number[]) => new FloatsAttr(v);

/** One node of the IR: what autodiff walks and the writer serialises. `null` is an omitted optional input. */
export interface Node {
  readonly op: string;
  readonly domain: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

/** A weight or constant stored in the graph, and its bytes. */
export interface Initializer {
  readonly tensor: Tensor;
  readonly data: WeightData;
  /** A weight (named model-wide, the same bytes in every graph of a model), not a graph's own constant. */
  readonly weight?: boolean;
}

/**
 * The weight precisions a model can be loaded in, with what each means: the one table that the
 * `Quantize` type, the CLI's `--quantize` choices and the server config's check come from.
 */
export const QUANTIZE_MODES = {
  none: "fp32 as in the checkpoint",
  int8: "int8 per output channel, quantised at load",
  int4: "4-bit in blocks along the input, quantised at load",
} as const;

export type Quantize = keyof typeof QUANTIZE_MODES;

/** `QUANTIZE_MODES`'s names: `["none", "int8", "int4"]`. */
export const quantizeModes = Object.keys(QUANTIZE_MODES) as Quantize[];

/** How the engine lowers high-level ops (see nn.ts): plain ONNX, fused onnxruntime kernels, int8 or 4-bit weights. */
export interface LoweringOptions {
  fused: boolean;
  quantize: Quantize;
}

/**
 * How a `Param` becomes a tensor of the graph that first uses it. Inference (the default): every
 * weight is an initializer of its stored dtype. Training: `trainable` weights become graph inputs
 * named with their checkpoint name (fed each step, gradients wanted), the others stay initializers;
 * `dtype: "float64"` widens every weight (gradient checks against float64 references).
 */
export interface ParamBinding {
  trainable?: (p: Param) => boolean;
  dtype?: "float32" | "float64";
}

/** A trainable weight and the graph input it is fed through. */
export interface TrainableBinding {
  readonly param: Param;
  readonly tensor: Tensor;
}

export class Graph {
  private readonly nodeList: Node[] = [];
  private readonly inputList: Tensor[] = [];
  private readonly outputList: Tensor[] = [];
  private readonly initializerMap = new Map<string, Initializer>();
  private readonly constantValues = new Map<Tensor, readonly number[]>();
  private readonly bound = new Map<Param, Tensor>();
  private readonly trainableList: TrainableBinding[] = [];
  private readonly memos = new Map<string, Map<Param | string, unknown>>();
  private readonly usedNames = new Set<string>();
  private readonly domainSet = new Set<string>();
  private counter = 0;

  constructor(
    readonly name: string,
    readonly lowering: LoweringOptions = { fused: false, quantize: "none" },
    readonly binding: ParamBinding = {},
  ) {}

  /** The nodes in topological order (every input is produced before it is read). */
  get nodes(): readonly Node[] {
    return this.nodeList;
  }
  /** Graph inputs, including trainable weights. */
  get inputs(): readonly Tensor[] {
    return this.inputList;
  }
  /** Graph outputs; each tensor's name is the output's name. */
  get outputs(): readonly Tensor[] {
    return this.outputList;
  }
  get initializers(): Iterable<Initializer> {
    return this.initializerMap.values();
  }

  /**
   * The nodes some output depends on, in order. onnxruntime runs every node of a model, used or not,
   * so the writer emits only these (autodiff's rules also derive gradients nobody asked for, e.g. of
   * the image features, and leave them for this to drop).
   */
  get liveNodes(): readonly Node[] {
    const needed = new Set<Tensor>(this.outputList);
    const live: Node[] = [];
    for (let k = this.nodeList.length - 1; k >= 0; k--) {
      const n = this.nodeList[k]!;
      if (!n.outputs.some((o) => needed.has(o))) continue;
      live.push(n);
      for (const i of n.inputs) if (i) needed.add(i);
    }
    return live.reverse();
  }
  /** Operator domains used besides the default one (e.g. com.microsoft). */
  get domains(): Iterable<string> {
    return this.domainSet;
  }
  /** Weights bound as inputs, in binding order. */
  get trainable(): readonly TrainableBinding[] {
    return this.trainableList;
  }

  /** A graph input fed at run time. */
  input(name: string, dtype: DType, shape: readonly Dim[]): Tensor {
    this.claim(name);
    const t = new Tensor(this, name, dtype, shape);
    this.inputList.push(t);
    return t;
  }

  /** Marks `t` as a graph output called `name`. */
  output(t: Tensor, name: string): Tensor {
    this.own(t);
    this.claim(name);
    const out = new Tensor(this, name, t.dtype, t.shape);
    this.nodeList.push({ op: "Identity", domain: "", inputs: [t], outputs: [out], attrs: {} });
    this.outputList.push(out);
    return out;
  }

  /** `p` as a tensor of this graph, bound as the ParamBinding says, under the checkpoint's own name. */
  bind(p: Operand): Tensor {
    if (p instanceof Tensor) return this.own(p);
    let t = this.bound.get(p);
    if (t) return t;
    const dtype = this.binding.dtype && p.dtype === "float32" ? this.binding.dtype : p.dtype;
    if (this.binding.trainable?.(p)) {
      t = this.input(p.name, dtype, p.shape);
      this.trainableList.push({ param: p, tensor: t });
    } else {
      this.claim(p.name);
      t = new Tensor(this, p.name, dtype, p.shape);
      this.initializerMap.set(p.name, { tensor: t, data: dtype === p.dtype ? p.data : widen(p.data), weight: true });
    }
    this.bound.set(p, t);
    return t;
  }

  /** A constant initializer (shapes, axes, scalars). */
  constant(values: ArrayLike<number> | ArrayLike<bigint>, dtype: DType, shape: readonly number[]): Tensor {
    const t = new Tensor(this, this.fresh("const"), dtype, shape);
    this.initializerMap.set(t.name, { tensor: t, data: { dtype, shape, bytes: encodeValues(values, dtype) } });
    this.constantValues.set(t, Array.from(values as ArrayLike<number>, Number));
    return t;
  }

  /** The values of a tensor made by `constant()` (backward rules read slice bounds, axes), else undefined. */
  valuesOf(t: Tensor | null): readonly number[] | undefined {
    return t ? this.constantValues.get(t) : undefined;
  }

  /** Appends a node with one output. Ops call this; model code never does. */
  node(op: string, inputs: readonly (Operand | null)[], out: { dtype: DType; shape: readonly Dim[] }, attrs: Record<string, AttrValue> = {}, domain = ""): Tensor {
    return this.nodeN(op, inputs, [out], attrs, domain)[0]!;
  }

  /** Appends a node with several outputs. */
  nodeN(op: string, inputs: readonly (Operand | null)[], outs: readonly { dtype: DType; shape: readonly Dim[] }[], attrs: Record<string, AttrValue> = {}, domain = ""): Tensor[] {
    const bound = inputs.map((i) => (i === null ? null : this.bind(i)));
    const outputs = outs.map((o) => new Tensor(this, this.fresh(op), o.dtype, o.shape));
    if (domain) this.domainSet.add(domain);
    this.nodeList.push({ op, domain, inputs: bound, outputs, attrs });
    return outputs;
  }

  /**
   * A value derived from a weight (or from a string key), computed once per graph (e.g. its int8
   * quantisation): the cache lives and dies with the graph, not in a module global.
   * `g.memo("int8", w, () => quantize(w))`
   */
  memo<T>(kind: string, p: Param | string, make: () => T): T {
    let m = this.memos.get(kind);
    if (!m) this.memos.set(kind, (m = new Map()));
    if (!m.has(p)) m.set(p, make());
    return m.get(p) as T;
  }

  /** Weights bytes held by this graph's initializers (for memory accounting). */
  get initializerBytes(): number {
    let n = 0;
    for (const i of this.initializerMap.values()) n += i.data.bytes.length;
    return n;
  }

  private own(t: Tensor): Tensor {
    if (t.graph !== this) throw new Error(`tensor ${t.name} belongs to graph ${t.graph.name}, not ${this.name}`);
    return t;
  }

  private claim(name: string): void {
    if (this.usedNames.has(name)) throw new Error(`graph ${this.name}: the name ${name} is used twice`);
    this.usedNames.add(name);
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.usedNames.has(name));
    this.usedNames.add(name);
    return name;
  }
}

/** float32 weight bytes as float64 (a training graph checked in double precision). */
function widen(data: WeightData): WeightData {
  // `bytes` may be a getter that reads the file at each access (lazy checkpoints): read it once.
  const bytes = data.bytes;
  const src = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return { dtype: "float64", shape: data.shape, bytes: new Uint8Array(Float64Array.from(src).buffer), source: null };
}

function encodeValues(values: ArrayLike<number> | ArrayLike<bigint>, dtype: DType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case "float32": return new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
    case "float64": return new Uint8Array(Float64Array.from(values as ArrayLike<number>).buffer);
    case "int64": return new Uint8Array(BigInt64Array.from(Array.from(values as ArrayLike<number>, (v) => BigInt(v))).buffer);
    case "int32": return new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
    case "bool":
    case "uint8": return Uint8Array.from(values as ArrayLike<number>);
    case "int8": return new Uint8Array(Int8Array.from(values as ArrayLike<number>).buffer);
    default: throw new Error(`constants of dtype ${dtype} are not supported (${n} values)`);
  }
}
