// The graph under construction: typed tensor handles, weights that bind lazily to the graph that
// uses them, and serialisation to an ONNX ModelProto. Ops live in ops.ts/nn.ts; this file knows no
// op semantics.
import * as fs from "node:fs";
import * as path from "node:path";
import { type DType, ONNX_DTYPE } from "./dtype.js";
import { Message } from "./onnx/protobuf.js";

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

/** A named weight not yet part of any graph; the first op that uses it makes it an initializer there. */
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

interface NodeSpec {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

interface ValueSpec {
  name: string;
  dtype: DType;
  shape: readonly Dim[];
}

/** Where one initializer's bytes come from. */
interface InitializerSpec extends ValueSpec {
  data: WeightData;
}

/** How the engine lowers high-level ops (see nn.ts): plain ONNX, fused onnxruntime kernels, int8. */
export interface LoweringOptions {
  fused: boolean;
  quantize: "none" | "int8";
}

export class Graph {
  private readonly nodes: NodeSpec[] = [];
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly initializers = new Map<string, InitializerSpec>();
  private readonly bound = new Map<Param, Tensor>();
  private readonly usedNames = new Set<string>();
  private readonly domains = new Set<string>();
  private counter = 0;

  constructor(
    readonly name: string,
    readonly lowering: LoweringOptions = { fused: false, quantize: "none" },
  ) {}

  /** A graph input fed at run time. */
  input(name: string, dtype: DType, shape: readonly Dim[]): Tensor {
    this.claim(name);
    this.inputs.push({ name, dtype, shape });
    return new Tensor(this, name, dtype, shape);
  }

  /** Marks `t` as a graph output called `name`. */
  output(t: Tensor, name: string): void {
    this.own(t);
    this.claim(name);
    this.nodes.push({ op: "Identity", domain: "", inputs: [t.name], outputs: [name], attrs: {} });
    this.outputs.push({ name, dtype: t.dtype, shape: t.shape });
  }

  /** `p` as a tensor of this graph (an initializer named with the checkpoint's own name). */
  bind(p: Operand): Tensor {
    if (p instanceof Tensor) return this.own(p);
    let t = this.bound.get(p);
    if (!t) {
      this.claim(p.name);
      this.initializers.set(p.name, { name: p.name, dtype: p.dtype, shape: p.shape, data: p.data });
      t = new Tensor(this, p.name, p.dtype, p.shape);
      this.bound.set(p, t);
    }
    return t;
  }

  /** A constant initializer (shapes, axes, scalars). */
  constant(values: ArrayLike<number> | ArrayLike<bigint>, dtype: DType, shape: readonly number[]): Tensor {
    const name = this.fresh("const");
    const bytes = encodeValues(values, dtype);
    this.initializers.set(name, { name, dtype, shape, data: { dtype, shape, bytes } });
    return new Tensor(this, name, dtype, shape);
  }

  /** Appends a node with one output. Ops call this; model code never does. */
  node(op: string, inputs: readonly (Operand | null)[], out: { dtype: DType; shape: readonly Dim[] }, attrs: Record<string, AttrValue> = {}, domain = ""): Tensor {
    return this.nodeN(op, inputs, [out], attrs, domain)[0]!;
  }

  /** Appends a node with several outputs. */
  nodeN(op: string, inputs: readonly (Operand | null)[], outs: readonly { dtype: DType; shape: readonly Dim[] }[], attrs: Record<string, AttrValue> = {}, domain = ""): Tensor[] {
    const outputs = outs.map((o) => new Tensor(this, this.fresh(op), o.dtype, o.shape));
    if (domain) this.domains.add(domain);
    this.nodes.push({
      op,
      domain,
      inputs: inputs.map((i) => (i === null ? "" : this.bind(i).name)),
      outputs: outputs.map((o) => o.name),
      attrs,
    });
    return outputs;
  }

  /**
   * Serialises the graph as an ONNX ModelProto (opset 17 + com.microsoft when used). With
   * `externalDataFolder`, weights stored raw in a checkpoint file under that folder (after resolving
   * symlinks, as onnxruntime does: HF cache snapshots link into `blobs/`) are referenced in place
   * (ONNX external data), so the model bytes hold no copy of them.
   */
  toModelProto(opts: { externalDataFolder?: string } = {}): Uint8Array {
    const graph = new Message();
    for (const n of this.nodes) graph.message(1, nodeProto(n));
    graph.string(2, this.name);
    const real = memoRealpath();
    const locate = (file: string) => (opts.externalDataFolder === undefined ? null : path.relative(real(opts.externalDataFolder), real(file)));
    for (const init of this.initializers.values()) graph.message(5, tensorProto(init, locate));
    for (const i of this.inputs) graph.message(11, valueInfo(i));
    for (const o of this.outputs) graph.message(12, valueInfo(o));
    const model = new Message().int(1, 8).string(2, "captioner").string(3, "0.1.0").message(7, graph);
    model.message(8, new Message().string(1, "").int(2, 17));
    for (const d of this.domains) model.message(8, new Message().string(1, d).int(2, 1));
    return model.bytes();
  }

  /** Weights bytes held by this graph's initializers (for memory accounting). */
  get initializerBytes(): number {
    let n = 0;
    for (const i of this.initializers.values()) n += i.data.bytes.length;
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

function encodeValues(values: ArrayLike<number> | ArrayLike<bigint>, dtype: DType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case "float32": return new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
    case "int64": return new Uint8Array(BigInt64Array.from(Array.from(values as ArrayLike<number>, (v) => BigInt(v))).buffer);
    case "int32": return new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
    case "bool":
    case "uint8": return Uint8Array.from(values as ArrayLike<number>);
    case "int8": return new Uint8Array(Int8Array.from(values as ArrayLike<number>).buffer);
    default: throw new Error(`constants of dtype ${dtype} are not supported (${n} values)`);
  }
}

function nodeProto(n: NodeSpec): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.outputs[0]!).string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs)) m.message(5, attributeProto(name, value));
  if (n.domain) m.string(7, n.domain);
  return m;
}

// AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7.
function attributeProto(name: string, v: AttrValue): Message {
  const m = new Message().string(1, name);
  if (v instanceof FloatAttr) return m.float(2, v.value).int(20, 1);
  if (v instanceof FloatsAttr) return m.packedFloats(7, v.values).int(20, 6);
  if (typeof v === "string") return m.string(4, v).int(20, 3);
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}=${v}: wrap float attributes with float()`);
    return m.int(3, v).int(20, 2);
  }
  return m.packedInts(8, v).int(20, 7);
}

function memoRealpath(): (file: string) => string {
  const seen = new Map<string, string>();
  return (file) => {
    let real = seen.get(file);
    if (real === undefined) seen.set(file, (real = fs.realpathSync(file)));
    return real;
  };
}

/** `locate(file)`: the weights file's path relative to the external-data folder, or null for inline data. */
function tensorProto(t: InitializerSpec, locate: (file: string) => string | null): Message {
  const m = new Message().packedInts(1, t.shape as number[]).int(2, ONNX_DTYPE[t.dtype]).string(8, t.name);
  const src = t.data.source;
  const location = src ? locate(src.file) : null;
  if (src && location && !location.startsWith("..") && !path.isAbsolute(location)) {
    // Point at the checkpoint file itself: no copy of the weights in the model bytes.
    m.message(13, new Message().string(1, "location").string(2, location));
    m.message(13, new Message().string(1, "offset").string(2, String(src.offset)));
    m.message(13, new Message().string(1, "length").string(2, String(src.length)));
    return m.int(14, 1);
  }
  return m.bytesField(9, t.data.bytes);
}

function valueInfo(v: ValueSpec): Message {
  const shape = new Message();
  for (const d of v.shape) shape.message(1, typeof d === "number" ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, ONNX_DTYPE[v.dtype]).message(2, shape);
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}
