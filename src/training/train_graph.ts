// One optimisation step of any TrainableModel, compiled: the family's training graph (loss and the
// gradient of every trainable weight, one ONNX graph of plain ops), the trainable weights' values
// held in JS and fed each step, and the frozen vision tower computing image features when needed.
import { CompiledGraph, ort, type RuntimeOptions } from "../engine/runtime.js";
import type { Param } from "../engine/graph.js";
import { BLOCKED } from "../models/decoder_state.js";
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

type Values = Float32Array | Float64Array;

/** A trainable weight's current values, owned by JS (the optimiser updates them in place). */
export interface TrainableTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Values;
}

/** Loss and gradients of one batch. */
export interface StepResult {
  loss: number;
  grads: Map<string, Values>;
}

/**
 * A compiled training graph and the values of its trainable weights (initially the checkpoint's).
 * `const step = await TrainingStep.compile(model, { labelSmoothing: 0.1 }); await step.run(batch, features)`
 */
export class TrainingStep {
  private constructor(
    private readonly graph: CompiledGraph,
    private readonly vision: CompiledGraph | null,
    readonly params: readonly TrainableTensor[],
    readonly dtype: TrainDType,
    private readonly imageSize: number,
  ) {}

  static async compile(model: TrainableModel, opts: TrainGraphOptions, runtime: RuntimeOptions = {}): Promise<TrainingStep> {
    const dtype = opts.dtype ?? "float32";
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
    return new TrainingStep(compiled, vision, params, dtype, model.imageSize);
  }

  /** Loss and gradients for `batch` on `pixels` (`[rows, 3, S, S]`, one image per caption). */
  async run(batch: CaptionBatch, pixels: Float32Array): Promise<StepResult> {
    const rows = batch.inputIds.length;
    const S = this.imageSize;
    const pixelTensor = new ort.Tensor(this.dtype, this.dtype === "float64" ? Float64Array.from(pixels) : pixels, [rows, 3, S, S]);
    const feeds = captionFeeds(batch, this.dtype);
    if (this.vision) feeds[trainIo.imageEmbeds] = (await this.vision.run({ [trainIo.pixelValues]: pixelTensor }))[trainIo.imageEmbeds]!;
    else feeds[trainIo.pixelValues] = pixelTensor;
    for (const p of this.params) feeds[p.name] = new ort.Tensor(this.dtype, p.values, p.shape as number[]);
    const out = await this.graph.run(feeds);
    const grads = new Map(this.params.map((p) => [p.name, out[trainIo.grad(p.name)]!.data as Values]));
    return { loss: Number(out[trainIo.loss]!.data[0]), grads };
  }

  async release(): Promise<void> {
    await this.graph.release();
    await this.vision?.release();
  }
}

/** A copy of the checkpoint's values (float32 weights widened for a float64 graph). */
function initialValues(p: Param, dtype: TrainDType): Values {
  const b = p.data.bytes;
  const f32 = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return dtype === "float64" ? Float64Array.from(f32) : f32;
}
