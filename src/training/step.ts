// The seam between the training loop and the engine: what one forward+backward pass and one
// optimiser step must offer. The loop, the data, the schedule and the checkpoints are written
// against these interfaces only, so the engine's training graph and AdamW plug in unchanged and
// tests drive the loop with a loss whose gradient is known.

/** One batch as BLIP's training graph takes it: the tokenizer's padded rows and one image per row. */
export interface TrainingBatch {
  /** `[rows][T]`: column 0 is the decoder's start token (`[DEC]`), then the caption and `[SEP]`, then padding. */
  inputIds: number[][];
  /** `[rows][T]`: 1 on tokens, 0 on padding. */
  attentionMask: number[][];
  /** `[rows][T]`: `inputIds` with padding replaced by -100 (ignored by the loss). */
  labels: number[][];
  /** Number of rows (one image per row). */
  images: number;
  /** One row's image shape: `[tokens, hidden]` for `imageEmbeds`, `[3, S, S]` for `pixels`. */
  imageShape: readonly number[];
  /** Vision frozen: the cached vision features of each row's image, `[rows, tokens, hidden]`. */
  imageEmbeds?: Float32Array;
  /** `--train-vision`: each row's preprocessed image, `[rows, 3, S, S]`. */
  pixels?: Float32Array;
}

/** A trainable weight: its Hugging Face name, shape and current values (updated in place by the optimiser). */
export interface TrainableTensor<V extends Float32Array | Float64Array = Float32Array> {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: V;
}

/** The loss of a batch and the gradient of every trainable tensor, by name. */
export interface GradientResult<V extends Float32Array | Float64Array = Float32Array> {
  loss: number;
  grads: Map<string, V>;
}

/** One forward+backward pass over the current values of `params`. */
export interface GradientStep {
  readonly params: readonly TrainableTensor[];
  run(batch: TrainingBatch): Promise<GradientResult>;
  release(): Promise<void>;
}

/** Everything an optimiser must carry over a restart: its step count and its per-tensor buffers. */
export interface OptimizerState {
  steps: number;
  /** Named buffers, e.g. `exp_avg.<param>` and `exp_avg_sq.<param>`; saved and restored bit for bit. */
  buffers: Map<string, Float32Array>;
}

/** An optimiser over the `params` of a GradientStep (AdamW with global-norm clipping). */
export interface Optimizer {
  /** Clips `grads` (in place) and updates every parameter with learning rate `lr`; returns the gradient norm before clipping. */
  step(grads: ReadonlyMap<string, Float32Array>, lr: number): number;
  state(): OptimizerState;
  load(state: OptimizerState): void;
}

/** Settings of the gradient step that come from the command line. */
export interface GradientStepOptions {
  labelSmoothing: number;
  /** Pixels in and the vision tower trained; otherwise `imageEmbeds` in and only the text decoder trains. */
  trainVision: boolean;
  /** onnxruntime intra-op threads (default: every core). */
  threads?: number;
}

/** AdamW's settings; clipping is part of the optimiser's step. */
export interface OptimizerOptions {
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  /** Maximum global L2 norm of the gradients (null: no clipping). */
  clipGradNorm: number | null;
}

/** How a model family trains: its gradient step built from a checkpoint folder, and its optimiser. */
export interface TrainingBackend {
  createStep(modelFolder: string, opts: GradientStepOptions): Promise<GradientStep>;
  createOptimizer(params: readonly TrainableTensor[], opts: OptimizerOptions): Optimizer;
}
