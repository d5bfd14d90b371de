// What training needs of a model family: the graphs of one optimisation step, built from the
// checkpoint's weights by the family's own model code. The loop, optimiser and checkpoints
// (src/training) are written once against this.
import { gradName } from "../engine/autodiff.js";
import type { Graph, Param } from "../engine/graph.js";

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

export interface TrainableModel {
  /** Pixel side length (`pixel_values` are `[n, 3, S, S]`). */
  readonly imageSize: number;
  /**
   * The folder onnxruntime reads frozen weights from in place (external data: no copy in the model
   * bytes), when the checkpoint stores them raw (the runtime's `weightsFolder`).
   */
  readonly weightsFolder?: string;
  /**
   * Inputs `input_ids`, `position_ids`, `attention_bias`, `labels` and `image_embeds` (vision frozen)
   * or `pixel_values` (`trainVision`); outputs `loss` and `grad.<hf name>` of every trainable weight.
   */
  trainingGraph(opts: TrainGraphOptions): Graph;
  /** The frozen vision tower alone: `pixel_values` → `image_embeds` in `dtype` (no gradients). */
  imageFeaturesGraph(dtype: TrainDType): Graph;
  /** Every weight the model uses, by its checkpoint name (what a saved checkpoint must hold). */
  weights(): ReadonlyMap<string, Param>;
}
