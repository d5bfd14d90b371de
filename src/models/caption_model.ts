// The one contract between a model family and everything above it (pipeline, serving, training, bench):
// what a loaded captioning checkpoint offers. BLIP implements it in models/blip/; BLIP-2 will in
// models/blip2/. Nothing outside src/models/ names a family.
import type { LoweringOptions } from "../engine/graph.js";
import type { ort } from "../engine/runtime.js";
import type { ImageProcessorConfig } from "../preprocess/image_processor.js";
import type { Tokenizer } from "../preprocess/tokenizers.js";
import type { CaptionSpecialIds, StepModel } from "./step_model.js";

/** A checkpoint's own generation settings (PretrainedConfig's attributes; transformers' defaults when absent). */
export interface CheckpointGenerationConfig {
  readonly maxLength: number;
  readonly minLength: number;
  readonly doSample: boolean;
  readonly earlyStopping: boolean | "never";
  readonly numBeams: number;
  readonly numReturnSequences: number;
  readonly lengthPenalty: number;
  readonly repetitionPenalty: number;
  readonly noRepeatNgramSize: number;
}

/** What the vision phase computed for a batch of images; the rest of it is read only by the family's step model. */
export interface ImageFeatures {
  readonly images: number;
  /** The vision encoder's last hidden state, `[images, tokens, hidden]` (quality checks, training's feature cache). */
  readonly imageEmbeds: ort.Tensor;
}

export interface LoadModelOptions {
  /** Intra-op threads; defaults to the number of CPU cores. */
  threads?: number;
  /** Plain ONNX or fused kernels, fp32 or int8 (default: fused fp32). */
  lowering?: LoweringOptions;
}

export interface CaptionModel {
  /** config.json's `model_type` (the loader table's key). */
  readonly modelType: string;
  readonly tokenizer: Tokenizer;
  /** preprocessor_config.json: how an image becomes `pixel_values`. */
  readonly imageProcessor: ImageProcessorConfig;
  /** Pixel side length the vision phase takes (`pixel_values` are `[n, 3, S, S]`). */
  readonly imageSize: number;
  readonly special: CaptionSpecialIds;
  readonly generation: CheckpointGenerationConfig;
  /** The longest sequence the decoder can hold (its position embeddings). */
  readonly maxPositions: number;
  /** Checkpoint tensors the model did not use (a sign of a mismatched checkpoint when not empty). */
  readonly unusedWeights: readonly string[];
  /** The decoder's first tokens for a prompt (none: the start token alone). */
  promptIds(prompt: string | undefined): number[];
  /** A generated row as text (transformers' `batch_decode(..., skip_special_tokens=True)`). */
  decode(ids: readonly number[]): string;
  /** The vision phase for `images` preprocessed images (`[images, 3, S, S]` float32). */
  encode(pixels: Float32Array, images: number): Promise<ImageFeatures>;
  /** A decoder over one row per image of `features`, with empty caches. */
  stepModel(features: ImageFeatures): StepModel;
  release(): Promise<void>;
}
