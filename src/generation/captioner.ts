// The library API the CLI and the server call: a loaded BLIP captioner (graphs + tokenizer + image
// processor) and `caption()` for a batch of images with prompts and generation options.
import * as fs from "node:fs";
import * as path from "node:path";
import type { LoweringOptions } from "../engine/graph.js";
import { BlipSessions } from "../models/blip/load.js";
import { type DecodeLimits, decodeImage } from "../preprocess/image.js";
import { concatFloat32, type ImageProcessorConfig, parseImageProcessorConfig, toPixelValues } from "../preprocess/image_processor.js";
import { BertTokenizer } from "../preprocess/tokenizer.js";
import { type GenerationDefaults, type GenerationOptions, GenerationOptionsError, generate } from "./generate.js";

export interface CaptionOptions extends GenerationOptions {
  /** Text the caption must start with: one for all images, or one per image. */
  prompt?: string | readonly string[];
}

export interface Caption {
  /** The decoded caption (what transformers' fast `batch_decode(skip_special_tokens=True)` gives). */
  text: string;
  /** transformers' `output_ids` row: starts with `[DEC]`, includes the prompt, padded to the call's width. */
  ids: number[];
  /** Beam search's normalised score (`sequences_scores`). */
  score?: number;
}

export interface LoadCaptionerOptions {
  threads?: number;
  lowering?: LoweringOptions;
}

export class Captioner {
  private constructor(
    readonly folder: string,
    readonly sessions: BlipSessions,
    readonly tokenizer: BertTokenizer,
    readonly imageProcessor: ImageProcessorConfig,
  ) {}

  /** Loads a BLIP checkpoint folder (config.json, weights, tokenizer.json, preprocessor_config.json). */
  static async load(folder: string, opts: LoadCaptionerOptions = {}): Promise<Captioner> {
    const tokenizer = BertTokenizer.fromFile(path.join(folder, "tokenizer.json"));
    const imageProcessor = parseImageProcessorConfig(JSON.parse(fs.readFileSync(path.join(folder, "preprocessor_config.json"), "utf8")));
    const sessions = await BlipSessions.load(folder, opts);
    return new Captioner(folder, sessions, tokenizer, imageProcessor);
  }

  /** The generation defaults of this checkpoint (BLIP: `text_config`). */
  get defaults(): GenerationDefaults {
    const g = this.sessions.config.text.generation;
    if (g.earlyStopping === "never") throw new GenerationOptionsError('early_stopping="never" in config.json is not supported; set it to true or false');
    return { ...g, earlyStopping: g.earlyStopping };
  }

  /** Decodes and preprocesses image files' bytes into one `[n, 3, S, S]` pixel batch. */
  async pixels(images: readonly Uint8Array[], limits?: DecodeLimits): Promise<Float32Array> {
    const decoded = await Promise.all(images.map((bytes) => decodeImage(bytes, limits)));
    return concatFloat32(decoded.map((img) => toPixelValues(img, this.imageProcessor)));
  }

  /** Captions image files (PNG, JPEG, WebP, GIF bytes): per image, `numReturnSequences` captions. */
  async caption(images: readonly Uint8Array[], options: CaptionOptions = {}): Promise<Caption[][]> {
    return this.captionPixels(await this.pixels(images), images.length, options);
  }

  /**
   * Captions preprocessed pixels. Images whose prompts tokenize to different lengths are generated
   * in separate batches, so every image gets exactly the caption it would get alone (transformers
   * instead right-pads such prompts and lets the shorter ones attend to their [SEP]).
   */
  async captionPixels(pixels: Float32Array, count: number, options: CaptionOptions = {}): Promise<Caption[][]> {
    const prompts = this.promptIds(options.prompt, count);
    const text = this.sessions.config.text;
    const special = { eos: text.sepTokenId, pad: text.padTokenId };
    const perImage = this.sessions.imageSize ** 2 * 3;
    const results: { ids: number[]; score?: number }[][] = new Array(count);
    for (const group of groupBy(prompts.map((p, i) => [p.length, i] as const))) {
      const batch = new Float32Array(group.length * perImage);
      group.forEach((img, k) => batch.set(pixels.subarray(img * perImage, (img + 1) * perImage), k * perImage));
      const features = await this.sessions.encode(batch, group.length);
      const sequences = await generate(this.sessions.stepModel(features), group.map((i) => prompts[i]!), special, options, this.defaults);
      group.forEach((img, k) => (results[img] = sequences[k]!));
    }
    // Like transformers' output_ids, rows of one call share a width (finished rows padded).
    const width = Math.max(...results.flat().map((s) => s.ids.length));
    return results.map((list) =>
      list.map(({ ids, score }) => {
        const padded = [...ids, ...new Array<number>(width - ids.length).fill(special.pad)];
        const caption: Caption = { text: this.tokenizer.decode(padded, { skipSpecialTokens: true }), ids: padded };
        if (score !== undefined) caption.score = score;
        return caption;
      }),
    );
  }

  /** `[DEC]` + the prompt's tokens: the processor's `[CLS] … [SEP]` with [CLS] replaced and [SEP] dropped. */
  private promptIds(prompt: string | readonly string[] | undefined, count: number): number[][] {
    const bos = this.sessions.config.text.bosTokenId;
    const list = typeof prompt === "string" || prompt === undefined ? new Array(count).fill(prompt) : [...prompt];
    if (list.length !== count) throw new GenerationOptionsError(`got ${list.length} prompts for ${count} images; give one prompt, or one per image`);
    return list.map((p: string | undefined) => {
      if (!p) return [bos];
      const ids = this.tokenizer.encode(p).ids;
      return [bos, ...ids.slice(1, -1)];
    });
  }

  async release(): Promise<void> {
    await this.sessions.release();
  }
}

/** Indices grouped by key, in first-seen order: `[[1,0],[2,1],[1,2]]` → `[[0,2],[1]]`. */
function groupBy(pairs: readonly (readonly [number, number])[]): number[][] {
  const groups = new Map<number, number[]>();
  for (const [key, i] of pairs) groups.set(key, [...(groups.get(key) ?? []), i]);
  return [...groups.values()];
}
