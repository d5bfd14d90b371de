// A BLIP checkpoint folder as a CaptionModel: config, tokenizer and image processor read, the two
// graphs compiled into onnxruntime sessions, and the StepModel the shared generation loop drives.
import * as fs from "node:fs";
import * as path from "node:path";
import { openCheckpoint } from "../../engine/checkpoint/index.js";
import { CompiledGraph, ort } from "../../engine/runtime.js";
import { Weights } from "../../engine/weights.js";
import { parseImageProcessorConfig, type ImageProcessorConfig } from "../../preprocess/image_processor.js";
import { loadTokenizer, type Tokenizer } from "../../preprocess/tokenizers.js";
import type { CaptionModel, ImageFeatures, LoadModelOptions } from "../caption_model.js";
import { causalBias, type Feeds, idsAndPositions, KvCache, lastPositions, PerImageInputs } from "../decoder_state.js";
import type { CaptionSpecialIds, StepModel } from "../step_model.js";
import { type BlipConfig, loadBlipConfig } from "./config.js";
import { BlipForConditionalGeneration, io } from "./model.js";

/** Image tokens and every decoder layer's cross-attention K/V for a batch of images. */
export interface BlipImageFeatures extends ImageFeatures {
  /** The model that computed them: a step model only reads its own model's features. */
  readonly owner: BlipCaptionModel;
  readonly crossKeys: ort.Tensor[];
  readonly crossValues: ort.Tensor[];
}

export class BlipCaptionModel implements CaptionModel {
  readonly modelType = "blip";
  readonly special: CaptionSpecialIds;

  private constructor(
    readonly config: BlipConfig,
    readonly tokenizer: Tokenizer,
    readonly imageProcessor: ImageProcessorConfig,
    private readonly vision: CompiledGraph,
    private readonly decoder: CompiledGraph,
    readonly unusedWeights: readonly string[],
  ) {
    const t = config.text;
    // BLIP's generate() starts from [DEC], stops on [SEP] (not eos_token_id) and pads with pad_token_id.
    this.special = { bos: t.bosTokenId, eos: t.sepTokenId, pad: t.padTokenId };
  }

  /** Reads config, tokenizer, image processor and weights from `folder` and compiles both graphs. */
  static async load(folder: string, opts: LoadModelOptions = {}): Promise<BlipCaptionModel> {
    const lowering = opts.lowering ?? { fused: true, quantize: "none" };
    CompiledGraph.prepare(lowering, { threads: opts.threads });
    const config = loadBlipConfig(folder);
    const tokenizer = loadTokenizer(path.join(folder, "tokenizer.json"));
    const imageProcessor = parseImageProcessorConfig(JSON.parse(fs.readFileSync(path.join(folder, "preprocessor_config.json"), "utf8")));
    // Weights stay in the checkpoint file: onnxruntime reads them from there (no JS copy).
    const checkpoint = openCheckpoint(folder, { maxInMemoryBytes: 0 });
    const weights = Weights.of(checkpoint);
    const model = new BlipForConditionalGeneration(config, weights);
    // onnxruntime resolves symlinks and wants external data under one folder: the weights' real one.
    const runtime = { threads: opts.threads, weightsFolder: path.dirname(fs.realpathSync(checkpoint.files[0]!)) };
    // The decoder first: its weight prepacking briefly needs the most extra memory, so it should
    // happen while less is resident (measured on blip-base: the load's own peak drops from 1210 to 1120 MB).
    const [decoder, vision] = await CompiledGraph.compileAll([model.decoderGraph(lowering), model.visionGraph(lowering)], runtime);
    return new BlipCaptionModel(config, tokenizer, imageProcessor, vision!, decoder!, weights.unused());
  }

  get imageSize(): number {
    return this.config.vision.imageSize;
  }

  get generation() {
    return this.config.text.generation;
  }

  get maxPositions(): number {
    return this.config.text.maxPositionEmbeddings;
  }

  /** `[DEC]` + the prompt's tokens: the processor's `[CLS] … [SEP]` with [CLS] replaced and [SEP] dropped. */
  promptIds(prompt: string | undefined): number[] {
    if (!prompt) return [this.special.bos];
    return [this.special.bos, ...this.tokenizer.encode(prompt).ids.slice(1, -1)];
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /** Runs the vision phase on `pixels` (`[images, 3, S, S]` float32, CHW per image). */
  async encode(pixels: Float32Array, images: number): Promise<BlipImageFeatures> {
    const S = this.imageSize;
    const out = await this.vision.run({ [io.pixelValues]: new ort.Tensor("float32", pixels, [images, 3, S, S]) });
    const layers = this.config.text.numHiddenLayers;
    return {
      owner: this,
      images,
      imageEmbeds: out[io.imageEmbeds]!,
      crossKeys: Array.from({ length: layers }, (_, i) => out[io.crossKey(i)]!),
      crossValues: Array.from({ length: layers }, (_, i) => out[io.crossValue(i)]!),
    };
  }

  stepModel(features: ImageFeatures): BlipStepModel {
    if ((features as Partial<BlipImageFeatures>).owner !== this) throw new TypeError("stepModel() takes the features that this model's encode() returned");
    return new BlipStepModel(this.decoder, this.config, features as BlipImageFeatures);
  }

  async release(): Promise<void> {
    await this.vision.release();
    await this.decoder.release();
  }
}

/** The text decoder over a self-attention cache, each row attending to its image's cross-attention K/V. */
export class BlipStepModel implements StepModel {
  readonly vocabSize: number;
  readonly maxPositions: number;
  private readonly cache: KvCache;
  private readonly image: PerImageInputs;

  constructor(private readonly decoder: CompiledGraph, cfg: BlipConfig, features: BlipImageFeatures) {
    const t = cfg.text;
    this.vocabSize = t.vocabSize;
    this.maxPositions = t.maxPositionEmbeddings;
    const heads = t.numAttentionHeads;
    this.cache = new KvCache(io, t.numHiddenLayers, features.images, heads, t.hiddenSize / heads);
    const perImage: Feeds = {};
    features.crossKeys.forEach((k, i) => ((perImage[io.crossKey(i)] = k), (perImage[io.crossValue(i)] = features.crossValues[i]!)));
    this.image = new PerImageInputs(perImage, features.images);
  }

  get rows(): number {
    return this.image.rows;
  }

  async forward(tokens: readonly (readonly number[])[]): Promise<{ logits: Float32Array; length: number }> {
    const rows = tokens.length;
    const T = tokens[0]!.length;
    if (rows !== this.rows || tokens.some((t) => t.length !== T)) throw new Error(`step needs ${this.rows} rows of equal length`);
    const { ids, positions } = idsAndPositions(tokens, this.cache.length);
    const feeds: Feeds = { [io.inputIds]: ids, [io.positionIds]: positions, [io.mask]: causalBias(rows, T, this.cache.length) };
    this.cache.feed(feeds);
    this.image.feed(feeds);
    const out = await this.decoder.run(feeds);
    this.cache.update(out, T);
    return { logits: out[io.logits]!.data as Float32Array, length: T };
  }

  async step(tokens: readonly (readonly number[])[]): Promise<Float32Array> {
    const { logits, length } = await this.forward(tokens);
    return lastPositions(logits, tokens.length, length, this.vocabSize);
  }

  reorder(order: readonly number[]): void {
    this.cache.reorder(order);
    this.image.reorder(order);
  }
}
