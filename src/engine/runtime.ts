// Runs built graphs on onnxruntime-node. One CompiledGraph per phase (vision, decoder step); the
// session settings that matter for speed are chosen here, once.
import * as ort from "onnxruntime-node";
import * as os from "node:os";
import type { Graph, LoweringOptions } from "./graph.js";
import type { ExternalDataFile } from "./onnx/external_data.js";
import { ModelWriter } from "./onnx/writer.js";
import { prepareQuantizeThreads, quantizeThreads } from "./quantize_pool.js";

export interface RuntimeOptions {
  /** Intra-op threads; defaults to the number of CPU cores. */
  threads?: number;
  /**
   * The checkpoint folder: weights stored raw there are read by onnxruntime from the file itself
   * (external data) instead of being copied through JavaScript and the model bytes.
   */
  weightsFolder?: string;
  /**
   * onnxruntime's graph rewrites: "all" (default) or "basic" (constant folding and the like only).
   * float64 graphs need "basic": the extended fusions store scalars as float32 attributes (MatMul·scale
   * → FusedMatMul's `alpha`), which cost a float64 gradient ~1e-8 of relative accuracy.
   */
  optimization?: "all" | "basic";
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default, true). Off, they
   * sleep: slower on a quiet machine, kinder to the other processes of a busy one.
   */
  spinning?: boolean;
  /**
   * Where initializers that are not in the checkpoint (int8 weights made at load time) are written
   * as external data; its folder replaces `weightsFolder`, so everything large must then go there.
   */
  spill?: ExternalDataFile;
  /** onnxruntime's CPU memory arena (default off, see sessionOptions). */
  memArena?: boolean;
}

export type Feeds = Record<string, ort.Tensor>;

export class CompiledGraph {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly name: string,
  ) {}

  /**
   * Starts what compiling graphs of this lowering will need, so that it is ready by then: the
   * quantising worker threads of an int8 or 4-bit load. Call it before reading configs and weights.
   */
  static prepare(lowering: LoweringOptions, opts: RuntimeOptions = {}): void {
    if (lowering.quantize !== "none") prepareQuantizeThreads(quantizeThreads(opts.threads));
  }

  /** Builds the ModelProto of `graph` and opens an onnxruntime session on it. */
  static async compile(graph: Graph, opts: RuntimeOptions = {}): Promise<CompiledGraph> {
    return (await CompiledGraph.compileAll([graph], opts))[0]!;
  }

  /**
   * Compiles `graphs` one after another. All their writers start at once, so worker threads quantise
   * a later graph's weights while onnxruntime builds an earlier graph's session. If one fails, the
   * sessions already opened are released.
   */
  static async compileAll(graphs: readonly Graph[], opts: RuntimeOptions = {}): Promise<CompiledGraph[]> {
    const writerOptions = { externalDataFolder: opts.spill?.folder ?? opts.weightsFolder, spill: opts.spill, quantizeThreads: quantizeThreads(opts.threads) };
    const writers: ModelWriter[] = [];
    const compiled: CompiledGraph[] = [];
    try {
      for (const g of graphs) writers.push(new ModelWriter(g, writerOptions));
      for (const writer of writers) {
        const session = await ort.InferenceSession.create(await writer.bytes(), sessionOptions(opts));
        compiled.push(new CompiledGraph(session, writer.graph.name));
      }
      return compiled;
    } catch (error) {
      await Promise.all(compiled.map((c) => c.release()));
      throw error;
    } finally {
      for (const writer of writers) writer.close();
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the graph; every declared input must be fed. `fetches` (default: every output) may give an
   * output a tensor to be written into (its buffer reused across runs), or null.
   */
  async run(feeds: Feeds, fetches?: Record<string, ort.Tensor | null>): Promise<Record<string, ort.Tensor>> {
    return (await (fetches ? this.session.run(feeds, fetches) : this.session.run(feeds))) as Record<string, ort.Tensor>;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export function sessionOptions(opts: RuntimeOptions): ort.InferenceSession.SessionOptions {
  const config: Record<string, string> = {};
  const folder = opts.spill?.folder ?? opts.weightsFolder;
  if (folder) config.model_external_initializers_file_folder_path = folder;
  if (opts.spinning !== undefined) config["session.intra_op.allow_spinning"] = opts.spinning ? "1" : "0";
  return {
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: opts.optimization ?? "all",
    logSeverityLevel: 3,
    // Measured on blip-base: same speed without the arena, 25 MB less peak RSS (freed buffers go back).
    enableCpuMemArena: opts.memArena ?? false,
    // Prepacked weights stay on (measured: without them decode is 19% slower for 60 MB less RSS).
    ...(Object.keys(config).length ? { extra: { session: config } } : {}),
  };
}

export { ort };
