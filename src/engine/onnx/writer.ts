// The ONNX ModelProto writer: serialises a built Graph (opset 17 + com.microsoft when used) and
// decides where each initializer's bytes go — inline, or referenced in place in a checkpoint file
// (ONNX external data). The IR (graph.ts) knows nothing of files or protobuf. Only the nodes and
// initializers the outputs depend on are written.
import * as fs from "node:fs";
import * as path from "node:path";
import { DTYPE_SIZE, ONNX_DTYPE } from "../dtype.js";
import { type AttrValue, FloatAttr, FloatsAttr, type Graph, type Initializer, type Node, type Tensor } from "../graph.js";
import { type ExternalDataFile, type ExternalLocation } from "./external_data.js";
import { Message } from "./protobuf.js";
import { releaseScratch } from "../checkpoint/read_float32.js";
import { QuantizeAhead } from "../quantize_pool.js";

export interface WriterOptions {
  /**
   * Weights stored raw in a checkpoint file under this folder (after resolving symlinks, as
   * onnxruntime does: HF cache snapshots link into `blobs/`) are referenced in place, so the model
   * bytes hold no copy of them.
   */
  externalDataFolder?: string;
  /**
   * Where initializers of at least `spill.minBytes` that are not referenced in place go (its folder
   * must be `externalDataFolder`): needed past protobuf's 2 GB limit, e.g. a 2.7B model's int8 weights.
   */
  spill?: ExternalDataFile;
  /** Worker threads that quantise Linears ahead of the writer (see quantize_pool.ts); 0 or absent: none. */
  quantizeThreads?: number;
}

/** `graph` as ONNX ModelProto bytes: `ort.InferenceSession.create(await modelProto(g))`. */
export async function modelProto(graph: Graph, opts: WriterOptions = {}): Promise<Uint8Array> {
  return new ModelWriter(graph, opts).bytes();
}

/**
 * One graph's ModelProto, started when made: its quantised weights are handed to worker threads at
 * once, so they can be quantised while an earlier graph is still being written or compiled. `bytes()`
 * writes it; `close()` lets go of the workers if it is never written.
 */
export class ModelWriter {
  private readonly nodes: readonly Node[];
  private readonly initializers: Initializer[];
  private readonly ahead: QuantizeAhead | null;

  constructor(
    readonly graph: Graph,
    private readonly opts: WriterOptions = {},
  ) {
    // Only the initializers the outputs depend on are written.
    this.nodes = graph.liveNodes;
    const used = new Set<Tensor>(graph.outputs);
    for (const n of this.nodes) for (const i of n.inputs) if (i) used.add(i);
    this.initializers = [...graph.initializers].filter((init) => used.has(init.tensor));
    this.ahead = QuantizeAhead.start(this.initializers.map((init) => init.data), opts.quantizeThreads ?? 0);
  }

  async bytes(): Promise<Uint8Array> {
    try {
      return await this.write();
    } finally {
      this.close();
    }
  }

  private async write(): Promise<Uint8Array> {
    const { graph, opts } = this;
    const g = new Message();
    for (const n of this.nodes) g.message(1, nodeProto(n));
    g.string(2, graph.name);
    const real = memoRealpath();
    const folder = opts.externalDataFolder;
    const locate = (file: string) => (folder === undefined ? null : path.relative(real(folder), real(file)));
    for (const init of this.initializers) {
      await this.ahead?.before(init.data);
      g.message(5, tensorProto(init, locate, opts.spill, graph.name));
    }
    for (const i of graph.inputs) g.message(11, valueInfo(i));
    for (const o of graph.outputs) g.message(12, valueInfo(o));
    const model = new Message().int(1, 8).string(2, "captioner").string(3, "0.1.0").message(7, g);
    model.message(8, new Message().string(1, "").int(2, 17));
    for (const d of graph.domains) model.message(8, new Message().string(1, d).int(2, 1));
    return model.bytes();
  }

  /** Quantised Linears that worker threads have delivered so far. */
  get quantizedByWorkers(): number {
    return this.ahead?.fromWorkers ?? 0;
  }

  close(): void {
    this.ahead?.close();
    releaseScratch();
  }
}

function nodeProto(n: Node): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i ? i.name : "");
  for (const o of n.outputs) m.string(2, o.name);
  m.string(3, n.outputs[0]!.name).string(4, n.op);
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

/**
 * `locate(file)`: the weights file's path relative to the external-data folder, or null for inline
 * data. Data neither in place nor small goes to `spill` when given (read once: its bytes may be lazy); a weight is written once for all graphs of a model.
 */
function tensorProto({ tensor, data, weight }: Initializer, locate: (file: string) => string | null, spill: ExternalDataFile | undefined, graphName: string): Message {
  const m = new Message().packedInts(1, data.shape as number[]).int(2, ONNX_DTYPE[data.dtype]).string(8, tensor.name);
  const src = data.source;
  const location = src ? locate(src.file) : null;
  if (src && location && !location.startsWith("..") && !path.isAbsolute(location)) {
    // Point at the checkpoint file itself: no copy of the weights in the model bytes.
    return external(m, { location, offset: src.offset, length: src.length });
  }
  const size = data.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[data.dtype];
  // Constants stay inline: onnxruntime reads shapes and axes from them while checking the graph.
  if (spill && weight && size >= spill.minBytes) return external(m, spill.put(weight ? tensor.name : `${graphName}/${tensor.name}`, () => data.bytes));
  return m.bytesField(9, data.bytes);
}

function external(m: Message, at: ExternalLocation): Message {
  m.message(13, new Message().string(1, "location").string(2, at.location));
  m.message(13, new Message().string(1, "offset").string(2, String(at.offset)));
  m.message(13, new Message().string(1, "length").string(2, String(at.length)));
  return m.int(14, 1);
}

function valueInfo(v: Tensor): Message {
  const shape = new Message();
  for (const d of v.shape) shape.message(1, typeof d === "number" ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, ONNX_DTYPE[v.dtype]).message(2, shape);
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}
