// One optimisation step of any TrainableModel, compiled: the family's training graph (loss and the
// gradient of every trainable weight, one ONNX graph of plain ops), the trainable weights' values
// held in JS and fed each step, and the frozen vision tower computing image features when needed.
import { CompiledGraph, ort, type RuntimeOptions } from "../engine/runtime.js";
import type { Param } from "../engine/graph.js";
import { BLOCKED } from "../models/decoder_state.js";
import type { GradientResult, TrainableTensor } from "./step.js";
import { type TrainableModel, type TrainDType, type TrainGraphOptions, trainIo } from "../models/trainable.js";

export { trainIo, type TrainDType, type TrainGraphOptions };

/** One batch of captions as the tokenizer padded them (`attention_mask` 0 on padding; labels -100 there). */
export interface CaptionBatch {
  inputIds: readonly (readonly number[])[];
  attentionMask: readonly (readonly number[])[];
  labels: readonly (readonly number[])[];
}


/** The token feeds of a batch; the mask lets position t see the non-padding positions ≤ t (HF's decoder mask). */
export function captionFeeds(batch: CaptionBatch, dtype: TrainDType): Record<string, ort.Tensor> {
  const rows = batch.inputIds.length;
  const T = batch.inputIds[0]!.length;
  const ids = new BigInt64Array(rows * T);
  const positions = new BigInt64Array(rows * T);
  const labels = new BigInt64Array(rows * T);
  const mask = dtype === "float64" ? new Float64Array(rows * T * T) : new Float32Array(rows * T * T);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < T; t++) {
      ids[r * T + t] = BigInt(batch.inputIds[r]![t]!);
      positions[r * T + t] = BigInt(t);
      labels[r * T + t] = BigInt(batch.labels[r]![t]!);
      for (let s = 0; s < T; s++) if (s > t || batch.attentionMask[r]![s] === 0) mask[(r * T + t) * T + s] = BLOCKED;
    }
  }
  return {
    [trainIo.inputIds]: new ort.Tensor("int64", ids, [rows, T]),
    [trainIo.positionIds]: new ort.Tensor("int64", positions, [rows, T]),
    [trainIo.labels]: new ort.Tensor("int64", labels, [rows, T]),
    [trainIo.mask]: new ort.Tensor(dtype, mask, [rows, 1, T, T]),
  };
}

/** float64 graphs (checks against float64 references) hold float64 weights and gradients. */
type Values = Float32Array | Float64Array;
/**
 * Loss and gradients of one batch. The gradient arrays belong to the TrainingStep and are
 * overwritten by its next `run` (onnxruntime writes them in place: no allocation per step).
 */
type StepResult = GradientResult<Values>;

/** The images of a batch: pixels `[rows, 3, S, S]`, or the frozen vision tower's features `[rows, tokens, hidden]`. */
export type StepImages = { pixels: Float32Array } | { imageEmbeds: Float32Array | Float64Array };

/**
 * A compiled training graph and the values of its trainable weights (initially the checkpoint's).
 * `const step = await TrainingStep.compile(model, { labelSmoothing: 0.1 }); await step.run(batch, features)`
 */
export class TrainingStep {
  /** Each weight fed as a tensor over its `values` (updated in place by the optimiser, never re-wrapped). */
  private readonly weightFeeds: Record<string, ort.Tensor>;
  /** Each gradient output written by onnxruntime into a buffer held here, reused every step. */
  private readonly gradFetches: Record<string, ort.Tensor>;
  private readonly grads: Map<string, Values>;

  private constructor(
    private readonly graph: CompiledGraph,
    private vision: CompiledGraph | null,
    readonly params: readonly TrainableTensor<Values>[],
    readonly dtype: TrainDType,
    private readonly imageSize: number,
    /** Width of the image features (`image_embeds`' last axis). */
    private readonly imageHidden: number,
  ) {
    const Array = dtype === "float64" ? Float64Array : Float32Array;
    this.weightFeeds = Object.fromEntries(params.map((p) => [p.name, new ort.Tensor(dtype, p.values, p.shape as number[])]));
    this.grads = new Map(params.map((p) => [p.name, new Array(p.values.length)]));
    this.gradFetches = Object.fromEntries(params.map((p) => [trainIo.grad(p.name), new ort.Tensor(dtype, this.grads.get(p.name)!, p.shape as number[])]));
  }

  static async compile(model: TrainableModel, opts: TrainGraphOptions, runtime: RuntimeOptions = {}): Promise<TrainingStep> {
    const dtype = opts.dtype ?? "float32";
    runtime = { weightsFolder: model.weightsFolder, ...runtime };
    if (dtype === "float64") runtime = { ...runtime, optimization: "basic" };
    const g = model.trainingGraph(opts);
    const params = g.trainable.map(({ param }) => ({ name: param.name, shape: param.shape, values: initialValues(param, dtype) }));
    const compiled = await CompiledGraph.compile(g, runtime);
    const vision = opts.trainVision
      ? null
      : await CompiledGraph.compile(model.imageFeaturesGraph(dtype), runtime).catch(async (error: unknown) => {
          await compiled.release();
          throw error;
        });
    const embeds = g.inputs.find((t) => t.name === trainIo.imageEmbeds);
    return new TrainingStep(compiled, vision, params, dtype, model.imageSize, embeds ? (embeds.shape[2] as number) : 0);
  }

  /** The frozen vision tower's features of `pixels` (`[rows, 3, S, S]`): compute once per image, feed as `{ imageEmbeds }`. */
  async imageFeatures(pixels: Float32Array, rows: number): Promise<Values> {
    if (!this.vision) throw new Error(`imageFeatures: ${this.visionReleased ? "the vision tower was released" : "this step trains the vision tower (it takes pixels)"}`);
    const out = await this.vision.run({ [trainIo.pixelValues]: this.pixelTensor(pixels, rows) });
    return out[trainIo.imageEmbeds]!.data as Values;
  }

  /**
   * Loss and gradients for `batch`, one image per caption: pixels (a Float32Array is pixels), or
   * cached features when the vision tower is frozen.
   */
  async run(batch: CaptionBatch, images: Float32Array | StepImages): Promise<StepResult> {
    const rows = batch.inputIds.length;
    const given = images instanceof Float32Array ? { pixels: images } : images;
    const feeds = captionFeeds(batch, this.dtype);
    if ("imageEmbeds" in given) {
      if (this.vision === null && !this.visionReleased) throw new Error("run: this step trains the vision tower; give it pixels");
      const e = given.imageEmbeds;
      const hidden = this.imageHidden;
      feeds[trainIo.imageEmbeds] = new ort.Tensor(this.dtype, this.dtype === "float64" && e instanceof Float32Array ? Float64Array.from(e) : e, [rows, e.length / (rows * hidden), hidden]);
    } else if (this.visionReleased) throw new Error("run: the vision tower was released; give it { imageEmbeds }");
    else if (this.vision) feeds[trainIo.imageEmbeds] = (await this.vision.run({ [trainIo.pixelValues]: this.pixelTensor(given.pixels, rows) }))[trainIo.imageEmbeds]!;
    else feeds[trainIo.pixelValues] = this.pixelTensor(given.pixels, rows);
    const out = await this.graph.run({ ...feeds, ...this.weightFeeds }, { [trainIo.loss]: null, ...this.gradFetches });
    return { loss: Number(out[trainIo.loss]!.data[0]), grads: this.grads };
  }

  /**
   * Frees the frozen vision tower's session once every image's features are cached: training then
   * runs without its weights resident (BLIP-base: 86 M parameters, prepacked copies included).
   * Afterwards `run` takes `{ imageEmbeds }` only.
   */
  async releaseImageFeatures(): Promise<void> {
    await this.vision?.release();
    this.vision = null;
    this.visionReleased = true;
  }

  private visionReleased = false;

  private pixelTensor(pixels: Float32Array, rows: number): ort.Tensor {
    const S = this.imageSize;
    return new ort.Tensor(this.dtype, this.dtype === "float64" ? Float64Array.from(pixels) : pixels, [rows, 3, S, S]);
  }

  async release(): Promise<void> {
    await this.graph.release();
    await this.vision?.release();
  }
}

/** A copy of the checkpoint's values (float32 weights widened for a float64 graph). */
function initialValues(p: Param, dtype: TrainDType): Values {
  const b = p.data.bytes;
  // A tensor read on its own from the file (one read per access) is a fresh buffer: it becomes the values as is.
  const own = p.data.source != null && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
  const f32 = new Float32Array(own ? b.buffer : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return dtype === "float64" ? Float64Array.from(f32) : f32;
}
