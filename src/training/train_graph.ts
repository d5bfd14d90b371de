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
type StepResult = GradientResult<Values>;

/**
 * A compiled training graph and the values of its trainable weights (initially the checkpoint's).
 * `const step = await TrainingStep.compile(model, { labelSmoothing: 0.1 }); await step.run(batch, features)`
 */
export class TrainingStep {
  /** The frozen vision tower, compiled on first use: not needed when image features come cached. */
  private vision: Promise<CompiledGraph> | null = null;

  private constructor(
    private readonly model: TrainableModel,
    private readonly graph: CompiledGraph,
    private readonly runtime: RuntimeOptions,
    readonly params: readonly TrainableTensor<Values>[],
    readonly dtype: TrainDType,
    readonly trainVision: boolean,
  ) {}

  static async compile(model: TrainableModel, opts: TrainGraphOptions, runtime: RuntimeOptions = {}): Promise<TrainingStep> {
    const dtype = opts.dtype ?? "float32";
    if (dtype === "float64") runtime = { ...runtime, optimization: "basic" };
    const g = model.trainingGraph(opts);
    const params = g.trainable.map(({ param }) => ({ name: param.name, shape: param.shape, values: initialValues(param, dtype) }));
    return new TrainingStep(model, await CompiledGraph.compile(g, runtime), runtime, params, dtype, opts.trainVision ?? false);
  }

  /**
   * Loss and gradients for `batch` on its images: `pixels` (`[rows, 3, S, S]`, one image per caption)
   * or, with the vision tower frozen, the cached `imageEmbeds` of the vision tower (`[rows, ...shape]`).
   */
  async run(batch: CaptionBatch, image: Float32Array | { imageEmbeds: Float32Array; shape: readonly number[] }): Promise<StepResult> {
    const rows = batch.inputIds.length;
    const widen = (a: Float32Array) => (this.dtype === "float64" ? Float64Array.from(a) : a);
    const feeds = captionFeeds(batch, this.dtype);
    if (!(image instanceof Float32Array)) {
      if (this.trainVision) throw new Error("a step that trains the vision tower takes pixels, not cached image features");
      feeds[trainIo.imageEmbeds] = new ort.Tensor(this.dtype, widen(image.imageEmbeds), [rows, ...image.shape]);
    } else {
      const S = this.model.imageSize;
      const pixels = new ort.Tensor(this.dtype, widen(image), [rows, 3, S, S]);
      if (this.trainVision) feeds[trainIo.pixelValues] = pixels;
      else feeds[trainIo.imageEmbeds] = (await (await this.visionGraph()).run({ [trainIo.pixelValues]: pixels }))[trainIo.imageEmbeds]!;
    }
    for (const p of this.params) feeds[p.name] = new ort.Tensor(this.dtype, p.values, p.shape as number[]);
    const out = await this.graph.run(feeds);
    const grads = new Map(this.params.map((p) => [p.name, out[trainIo.grad(p.name)]!.data as Values]));
    return { loss: Number(out[trainIo.loss]!.data[0]), grads };
  }

  private visionGraph(): Promise<CompiledGraph> {
    this.vision ??= CompiledGraph.compile(this.model.imageFeaturesGraph(this.dtype), this.runtime);
    return this.vision;
  }

  async release(): Promise<void> {
    await this.graph.release();
    await (await this.vision?.catch(() => null))?.release();
  }
}

/** A copy of the checkpoint's values (float32 weights widened for a float64 graph). */
function initialValues(p: Param, dtype: TrainDType): Values {
  const b = p.data.bytes;
  const f32 = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return dtype === "float64" ? Float64Array.from(f32) : f32;
}
