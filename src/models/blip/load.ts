// A BLIP checkpoint folder turned into two onnxruntime sessions, and the StepModel that the shared
// generation loop drives: it owns the self-attention caches and each row's cross-attention K/V.
import * as fs from "node:fs";
import * as path from "node:path";
import { openCheckpoint } from "../../engine/checkpoint/index.js";
import type { LoweringOptions } from "../../engine/graph.js";
import { CompiledGraph, ort, type RuntimeOptions } from "../../engine/runtime.js";
import { Weights } from "../../engine/weights.js";
import type { StepModel } from "../step_model.js";
import { type BlipConfig, loadBlipConfig } from "./config.js";
import { BlipForConditionalGeneration, io } from "./model.js";

export interface LoadOptions extends RuntimeOptions {
  lowering?: LoweringOptions;
}

/** Image tokens and every decoder layer's cross-attention K/V for a batch of images. */
export interface ImageFeatures {
  readonly images: number;
  /** `last_hidden_state` of the vision model, `[images, tokens, visionHidden]`. */
  readonly imageEmbeds: ort.Tensor;
  readonly crossKeys: ort.Tensor[];
  readonly crossValues: ort.Tensor[];
}

export class BlipSessions {
  private constructor(
    readonly config: BlipConfig,
    private readonly vision: CompiledGraph,
    private readonly decoder: CompiledGraph,
    /** Checkpoint tensors the model did not use (a sign of a mismatched checkpoint when not empty). */
    readonly unusedWeights: readonly string[],
  ) {}

  /** Reads config + weights from `folder` and compiles both graphs. */
  static async load(folder: string, opts: LoadOptions = {}): Promise<BlipSessions> {
    const config = loadBlipConfig(folder);
    // Weights stay in the checkpoint file: onnxruntime reads them from there (no JS copy).
    const checkpoint = openCheckpoint(folder, { maxInMemoryBytes: 0 });
    const weights = Weights.of(checkpoint);
    const model = new BlipForConditionalGeneration(config, weights);
    const lowering = opts.lowering ?? { fused: true, quantize: "none" };
    // onnxruntime resolves symlinks and wants external data under one folder: the weights' real one.
    const runtime = { ...opts, weightsFolder: path.dirname(fs.realpathSync(checkpoint.files[0]!)) };
    // The decoder first: its weight prepacking briefly needs the most extra memory, so it should
    // happen while less is resident (measured on blip-base: the load's own peak drops from 1210 to 1120 MB).
    const decoder = await CompiledGraph.compile(model.decoderGraph(lowering), runtime);
    const vision = await CompiledGraph.compile(model.visionGraph(lowering), runtime).catch(async (error: unknown) => {
      await decoder.release();
      throw error;
    });
    return new BlipSessions(config, vision, decoder, weights.unused());
  }

  get imageSize(): number {
    return this.config.vision.imageSize;
  }

  /** Runs the vision phase on `pixels` (`[images, 3, S, S]` float32, CHW per image). */
  async encode(pixels: Float32Array, images: number): Promise<ImageFeatures> {
    const S = this.imageSize;
    const out = await this.vision.run({ [io.pixelValues]: new ort.Tensor("float32", pixels, [images, 3, S, S]) });
    const layers = this.config.text.numHiddenLayers;
    return {
      images,
      imageEmbeds: out[io.imageEmbeds]!,
      crossKeys: Array.from({ length: layers }, (_, i) => out[io.crossKey(i)]!),
      crossValues: Array.from({ length: layers }, (_, i) => out[io.crossValue(i)]!),
    };
  }

  /** A decoder over one row per image of `features` (generation reorders rows for beams). */
  stepModel(features: ImageFeatures): BlipStepModel {
    return new BlipStepModel(this.decoder, this.config, features);
  }

  async release(): Promise<void> {
    await this.vision.release();
    await this.decoder.release();
  }
}

/** Masked-out attention logits: torch.finfo(float32).min, as transformers' extended masks use. */
const BLOCKED = -3.4028234663852886e38;

export class BlipStepModel implements StepModel {
  readonly vocabSize: number;
  readonly maxPositions: number;
  private pastKeys: ort.Tensor[];
  private pastValues: ort.Tensor[];
  private crossKeys: ort.Tensor[];
  private crossValues: ort.Tensor[];
  private pastLength = 0;
  private rowImage: number[];

  constructor(private readonly decoder: CompiledGraph, cfg: BlipConfig, private readonly features: ImageFeatures) {
    const t = cfg.text;
    this.vocabSize = t.vocabSize;
    this.maxPositions = t.maxPositionEmbeddings;
    const heads = t.numAttentionHeads;
    const empty = () => new ort.Tensor("float32", new Float32Array(0), [features.images, heads, 0, t.hiddenSize / heads]);
    this.pastKeys = Array.from({ length: t.numHiddenLayers }, empty);
    this.pastValues = Array.from({ length: t.numHiddenLayers }, empty);
    this.crossKeys = features.crossKeys;
    this.crossValues = features.crossValues;
    this.rowImage = Array.from({ length: features.images }, (_, i) => i);
  }

  get rows(): number {
    return this.rowImage.length;
  }

  /** Logits of every new position, `[rows, t, vocab]` (teacher forcing uses all of them). */
  async forward(tokens: readonly (readonly number[])[]): Promise<{ logits: Float32Array; length: number }> {
    const rows = tokens.length;
    const T = tokens[0]!.length;
    if (rows !== this.rows || tokens.some((t) => t.length !== T)) throw new Error(`step needs ${this.rows} rows of equal length`);
    const P = this.pastLength;
    const ids = new BigInt64Array(rows * T);
    const positions = new BigInt64Array(rows * T);
    tokens.forEach((row, r) => row.forEach((id, j) => ((ids[r * T + j] = BigInt(id)), (positions[r * T + j] = BigInt(P + j)))));
    // Causal mask over [past | new]: new token j sees every past token and new tokens ≤ j.
    const mask = new Float32Array(rows * T * (P + T));
    for (let r = 0; r < rows; r++) for (let j = 0; j < T; j++) mask.fill(BLOCKED, (r * T + j) * (P + T) + P + j + 1, (r * T + j + 1) * (P + T));
    const feeds: Record<string, ort.Tensor> = {
      [io.inputIds]: new ort.Tensor("int64", ids, [rows, T]),
      [io.positionIds]: new ort.Tensor("int64", positions, [rows, T]),
      [io.mask]: new ort.Tensor("float32", mask, [rows, 1, T, P + T]),
    };
    this.pastKeys.forEach((_, i) => {
      feeds[io.pastKey(i)] = this.pastKeys[i]!;
      feeds[io.pastValue(i)] = this.pastValues[i]!;
      feeds[io.crossKey(i)] = this.crossKeys[i]!;
      feeds[io.crossValue(i)] = this.crossValues[i]!;
    });
    const out = await this.decoder.run(feeds);
    this.pastKeys = this.pastKeys.map((_, i) => out[io.presentKey(i)]!);
    this.pastValues = this.pastValues.map((_, i) => out[io.presentValue(i)]!);
    this.pastLength += T;
    return { logits: out[io.logits]!.data as Float32Array, length: T };
  }

  async step(tokens: readonly (readonly number[])[]): Promise<Float32Array> {
    const { logits, length } = await this.forward(tokens);
    if (length === 1) return logits;
    const V = this.vocabSize;
    const last = new Float32Array(tokens.length * V);
    for (let r = 0; r < tokens.length; r++) last.set(logits.subarray(((r + 1) * length - 1) * V, (r + 1) * length * V), r * V);
    return last;
  }

  reorder(order: readonly number[]): void {
    this.pastKeys = this.pastKeys.map((t) => selectRows(t, order));
    this.pastValues = this.pastValues.map((t) => selectRows(t, order));
    const rowImage = order.map((r) => this.rowImage[r]!);
    // Cross K/V depend only on the image: re-gather them only when the row → image map changes.
    if (rowImage.some((img, r) => img !== this.rowImage[r]) || rowImage.length !== this.rowImage.length) {
      this.crossKeys = this.features.crossKeys.map((t) => selectRows(t, rowImage));
      this.crossValues = this.features.crossValues.map((t) => selectRows(t, rowImage));
    }
    this.rowImage = rowImage;
  }
}

/** Rows `order` of a float32 tensor's first axis, as a new tensor. */
export function selectRows(t: ort.Tensor, order: readonly number[]): ort.Tensor {
  const [rows, ...rest] = t.dims;
  const size = rest.reduce((a, b) => a * b, 1);
  const src = t.data as Float32Array;
  if (order.length === rows && order.every((r, i) => r === i)) return t;
  const out = new Float32Array(order.length * size);
  order.forEach((r, i) => out.set(src.subarray(r * size, (r + 1) * size), i * size));
  return new ort.Tensor("float32", out, [order.length, ...rest]);
}
