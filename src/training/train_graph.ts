// The training graph of BLIP captioning: the text decoder over whole teacher-forced captions (a
// padding + causal mask, cross-attention to the image tokens) → the loss → the gradient of every
// trainable weight, all one ONNX graph of plain ops. Trainable weights are graph inputs fed from
// JS-held arrays each step; frozen ones stay initializers. With the vision tower frozen its
// features are computed once per image by a separate graph and fed in.
import { gradName, outputLossAndGradients } from "../engine/autodiff.js";
import { Graph, type Param } from "../engine/graph.js";
import { CompiledGraph, ort, type RuntimeOptions } from "../engine/runtime.js";
import type { BlipForConditionalGeneration } from "../models/blip/model.js";
import { captionLoss } from "./loss.js";

export type TrainDType = "float32" | "float64";

export interface TrainGraphOptions {
  /** PyTorch's `label_smoothing` (transformers ≤ 4.3x hard-coded 0.1; 4.40 reads config.json). */
  labelSmoothing: number;
  /** Pixels in, and the vision tower trained too; otherwise image features are an input. */
  trainVision?: boolean;
  /** float64 reproduces float64 references; float32 is for training. */
  dtype?: TrainDType;
  /** Which weights the graph uses get gradients, by checkpoint name (default: all of them). */
  trainable?: (name: string) => boolean;
}

/** Input and output names of the training graphs. */
export const trainIo = {
  pixelValues: "pixel_values",
  imageEmbeds: "image_embeds",
  inputIds: "input_ids",
  positionIds: "position_ids",
  mask: "attention_bias",
  labels: "labels",
  loss: "loss",
  grad: gradName,
} as const;

/** Inputs `input_ids`, `position_ids`, `attention_bias`, `labels` and `image_embeds` | `pixel_values`; outputs `loss`, `grad.<name>`. */
export function blipTrainingGraph(model: BlipForConditionalGeneration, opts: TrainGraphOptions): Graph {
  const dtype = opts.dtype ?? "float32";
  const trainable = opts.trainable ?? (() => true);
  const g = new Graph(opts.trainVision ? "blip_train_full" : "blip_train_decoder", { fused: false, quantize: "none" }, { dtype, trainable: (p: Param) => trainable(p.name) });
  const { imageSize, hiddenSize: visionHidden } = model.cfg.vision;
  const imageEmbeds = opts.trainVision
    ? model.visionModel.forward(g.input(trainIo.pixelValues, dtype, ["batch", 3, imageSize, imageSize]))
    : g.input(trainIo.imageEmbeds, dtype, ["batch", "image_tokens", visionHidden]);
  const { logits } = model.textDecoder.forward({
    inputIds: g.input(trainIo.inputIds, "int64", ["batch", "seq"]),
    positionIds: g.input(trainIo.positionIds, "int64", ["batch", "seq"]),
    mask: g.input(trainIo.mask, dtype, ["batch", 1, "seq", "seq"]),
    image: model.textDecoder.projectImage(imageEmbeds),
  });
  outputLossAndGradients(captionLoss(logits, g.input(trainIo.labels, "int64", ["batch", "seq"]), opts.labelSmoothing));
  return g;
}

/** The frozen vision tower alone: `pixel_values` → `image_embeds` in `dtype` (no gradients). */
export function blipImageFeaturesGraph(model: BlipForConditionalGeneration, dtype: TrainDType): Graph {
  const { imageSize } = model.cfg.vision;
  const g = new Graph("blip_image_features", { fused: false, quantize: "none" }, { dtype });
  g.output(model.visionModel.forward(g.input(trainIo.pixelValues, dtype, ["batch", 3, imageSize, imageSize])), trainIo.imageEmbeds);
  return g;
}

/** One batch of captions as the tokenizer padded them (`attention_mask` 0 on padding; labels -100 there). */
export interface CaptionBatch {
  inputIds: readonly (readonly number[])[];
  attentionMask: readonly (readonly number[])[];
  labels: readonly (readonly number[])[];
}

/** Masked-out attention logits: torch.finfo(float32).min, as transformers' extended masks use. */
const BLOCKED = -3.4028234663852886e38;

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

  static async compile(model: BlipForConditionalGeneration, opts: TrainGraphOptions, runtime: RuntimeOptions = {}): Promise<TrainingStep> {
    const dtype = opts.dtype ?? "float32";
    if (dtype === "float64") runtime = { ...runtime, optimization: "basic" };
    const g = blipTrainingGraph(model, opts);
    const params = g.trainable.map(({ param }) => ({ name: param.name, shape: param.shape, values: initialValues(param, dtype) }));
    const compiled = await CompiledGraph.compile(g, runtime);
    const vision = opts.trainVision ? null : await CompiledGraph.compile(blipImageFeaturesGraph(model, dtype), runtime);
    return new TrainingStep(compiled, vision, params, dtype, model.cfg.vision.imageSize);
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
