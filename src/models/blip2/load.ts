// A BLIP-2 checkpoint folder as a CaptionModel. `Blip2Network` is the part that needs no text files
// (config, weights, the compiled graphs, the StepModel); `Blip2CaptionModel` adds the tokenizer and
// the image processor.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCheckpoint } from "../../engine/checkpoint/index.js";
import { ExternalDataFile } from "../../engine/onnx/external_data.js";
import { CompiledGraph, ort } from "../../engine/runtime.js";
import { Weights } from "../../engine/weights.js";
import { parseImageProcessorConfig, type ImageProcessorConfig } from "../../preprocess/image_processor.js";
import { loadTokenizer, type Tokenizer } from "../../preprocess/tokenizers.js";
import type { CaptionModel, CheckpointGenerationConfig, ImageFeatures, LoadModelOptions } from "../caption_model.js";
import { causalBias, type Feeds, idsAndPositions, KvCache, lastPositions, selectRows } from "../decoder_state.js";
import type { CaptionSpecialIds, StepModel } from "../step_model.js";
import { type Blip2Config, loadBlip2Config } from "./config.js";
import { Blip2ForConditionalGeneration, io } from "./model.js";

/** What the vision phase computed for a batch of images; the projected queries are the decoder's first prefix. */
export interface Blip2ImageFeatures extends ImageFeatures {
  /** The network that computed them: a step model only reads its own network's features. */
  readonly owner: Blip2Network;
  /** `[images, Q, qformer hidden]`. */
  readonly qformerOutput: ort.Tensor;
  /** `[images, Q, text hidden]`: the queries as OPT input embeddings. */
  readonly languageProjection: ort.Tensor;
}

/** The compiled graphs of a BLIP-2 checkpoint and its generation conventions. */
export class Blip2Network {
  readonly special: CaptionSpecialIds;

  private constructor(
    readonly config: Blip2Config,
    private readonly vision: CompiledGraph,
    private readonly decoder: CompiledGraph,
    readonly unusedWeights: readonly string[],
  ) {
    const t = config.text;
    const [eos, ...moreEos] = t.eosTokenIds;
    this.special = {
      bos: t.bosTokenId,
      eos: eos!,
      ...(moreEos.length ? { moreEos } : {}),
      // generate() pads with eos when a config has no pad id.
      pad: t.padTokenId ?? eos!,
      // The language model generates from inputs_embeds: rows hold only new tokens, and
      // Blip2ForConditionalGeneration.generate puts bos in front and passes max_length + Q - 1.
      layout: { promptInSequence: false, outputStart: [t.bosTokenId], maxLengthReserve: 1 },
    };
  }

  /** Reads config and weights from `folder` and compiles the vision and decoder graphs. */
  static async load(folder: string, opts: LoadModelOptions = {}): Promise<Blip2Network> {
    const lowering = opts.lowering ?? { fused: true, quantize: "none" };
    CompiledGraph.prepare(lowering, { threads: opts.threads });
    const config = loadBlip2Config(folder);
    // Weights stay in the checkpoint file: onnxruntime reads them from there (no JS copy).
    const checkpoint = openCheckpoint(folder, { maxInMemoryBytes: 0 });
    const weights = Weights.of(checkpoint);
    const model = new Blip2ForConditionalGeneration(config, weights);
    // Quantised weights are made here, not in the checkpoint: each is quantised, written to a
    // temporary external-data file and dropped (never all in memory, never inline past 2 GB).
    const spill = lowering.quantize === "none" ? undefined : new ExternalDataFile(fs.mkdtempSync(path.join(os.tmpdir(), "captioner-weights-")), "weights.bin");
    const runtime = { threads: opts.threads, weightsFolder: path.dirname(fs.realpathSync(checkpoint.files[0]!)), spill };
    let decoder: CompiledGraph, vision: CompiledGraph;
    try {
      [decoder, vision] = (await CompiledGraph.compileAll([model.decoderGraph(lowering), model.visionGraph(lowering)], runtime)) as [CompiledGraph, CompiledGraph];
    } finally {
      if (spill) spill.remove(), fs.rmSync(spill.folder, { recursive: true, force: true });
    }
    return new Blip2Network(config, vision, decoder, weights.unused());
  }

  /** Tokens the decoder can hold after the queries. */
  get maxPositions(): number {
    return this.config.text.maxPositionEmbeddings - this.config.numQueryTokens;
  }

  /**
   * text_config's generation settings, except the lengths: BLIP-2's generate() passes max_length
   * (default 20) and min_length (default 0) itself, so the language model's own are never read.
   */
  get generation(): CheckpointGenerationConfig {
    return { ...this.config.text.generation, maxLength: 20, minLength: 0 };
  }

  /** Runs the vision phase on `pixels` (`[images, 3, S, S]` float32, CHW per image). */
  async encode(pixels: Float32Array, images: number): Promise<Blip2ImageFeatures> {
    const S = this.config.vision.imageSize;
    const out = await this.vision.run({ [io.pixelValues]: new ort.Tensor("float32", pixels, [images, 3, S, S]) });
    return {
      owner: this,
      images,
      imageEmbeds: out[io.imageEmbeds]!,
      qformerOutput: out[io.qformerOutput]!,
      languageProjection: out[io.languageProjection]!,
    };
  }

  stepModel(features: ImageFeatures): OptStepModel {
    if ((features as Partial<Blip2ImageFeatures>).owner !== this) throw new TypeError("stepModel() takes the features that this model's encode() returned");
    return new OptStepModel(this.decoder, this.config, features as Blip2ImageFeatures);
  }

  async release(): Promise<void> {
    await this.vision.release();
    await this.decoder.release();
  }
}

/** OPT over a self-attention cache; the first step puts each row's projected queries before its tokens. */
export class OptStepModel implements StepModel {
  readonly vocabSize: number;
  readonly maxPositions: number;
  private readonly cache: KvCache;
  /** The queries as embeddings `[rows, Q, hidden]` until the first step consumes them; then an empty prefix. */
  private prefix: ort.Tensor;

  constructor(private readonly decoder: CompiledGraph, cfg: Blip2Config, features: Blip2ImageFeatures) {
    const t = cfg.text;
    this.vocabSize = t.vocabSize;
    this.maxPositions = t.maxPositionEmbeddings - cfg.numQueryTokens;
    const heads = t.numAttentionHeads;
    this.cache = new KvCache(io, t.numHiddenLayers, features.images, heads, t.hiddenSize / heads);
    this.prefix = features.languageProjection;
  }

  get rows(): number {
    return this.cache.rows;
  }

  async forward(tokens: readonly (readonly number[])[]): Promise<{ logits: Float32Array; length: number }> {
    const rows = tokens.length;
    const T = tokens[0]!.length;
    if (rows !== this.rows || tokens.some((t) => t.length !== T)) throw new Error(`step needs ${this.rows} rows of equal length`);
    // Positions count the queries: the first token is at position Q (OPT adds its offset of 2).
    const [, p, hidden] = this.prefix.dims as [number, number, number];
    const { ids } = idsAndPositions(tokens, 0);
    const { positions } = idsAndPositions(tokens.map(() => new Array<number>(p + T).fill(0)), this.cache.length);
    const feeds: Feeds = { [io.prefixEmbeds]: this.prefix, [io.inputIds]: ids, [io.positionIds]: positions, [io.mask]: causalBias(rows, p + T, this.cache.length) };
    this.cache.feed(feeds);
    const out = await this.decoder.run(feeds);
    this.cache.update(out, p + T);
    this.prefix = new ort.Tensor("float32", new Float32Array(0), [rows, 0, hidden]);
    return { logits: out[io.logits]!.data as Float32Array, length: T };
  }

  async step(tokens: readonly (readonly number[])[]): Promise<Float32Array> {
    const { logits, length } = await this.forward(tokens);
    return lastPositions(logits, tokens.length, length, this.vocabSize);
  }

  reorder(order: readonly number[]): void {
    this.cache.reorder(order);
    this.prefix = selectRows(this.prefix, order);
  }
}

export class Blip2CaptionModel implements CaptionModel {
  readonly modelType = "blip-2";

  private constructor(
    readonly network: Blip2Network,
    readonly tokenizer: Tokenizer,
    readonly imageProcessor: ImageProcessorConfig,
  ) {}

  /** Reads the tokenizer and image processor, then the network, from `folder`. */
  static async load(folder: string, opts: LoadModelOptions = {}): Promise<Blip2CaptionModel> {
    const tokenizer = loadTokenizer(path.join(folder, "tokenizer.json"));
    const imageProcessor = parseImageProcessorConfig(JSON.parse(fs.readFileSync(path.join(folder, "preprocessor_config.json"), "utf8")));
    return new Blip2CaptionModel(await Blip2Network.load(folder, opts), tokenizer, imageProcessor);
  }

  get special(): CaptionSpecialIds {
    return this.network.special;
  }
  get imageSize(): number {
    return this.network.config.vision.imageSize;
  }
  get generation(): CheckpointGenerationConfig {
    return this.network.generation;
  }
  get maxPositions(): number {
    return this.network.maxPositions;
  }
  get unusedWeights(): readonly string[] {
    return this.network.unusedWeights;
  }

  /** The processor's ids: the tokenizer adds `</s>` in front; no prompt is `[bos]` alone, as generate() does. */
  promptIds(prompt: string | undefined): number[] {
    if (!prompt) return [this.special.bos];
    return this.tokenizer.encode(prompt).ids;
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  encode(pixels: Float32Array, images: number): Promise<Blip2ImageFeatures> {
    return this.network.encode(pixels, images);
  }

  stepModel(features: ImageFeatures): StepModel {
    return this.network.stepModel(features);
  }

  release(): Promise<void> {
    return this.network.release();
  }
}
