// The pipeline every model family shares, and the library API the CLI, the server and the
// benchmarks call: decode → preprocess → encode → generate → text, over a CaptionModel.
import type { CaptionModel, LoadModelOptions } from "../models/caption_model.js";
import { loadCaptionModel } from "../models/index.js";
import { PROMPT_IN_SEQUENCE } from "../models/step_model.js";
import { type DecodeLimits, decodeImage, type OnDecoded } from "../preprocess/image.js";
import { concatFloat32 } from "../preprocess/image_processor.js";
import { toPixelValuesOffThread } from "../preprocess/off_thread.js";
import { type GenerationDefaults, GenerationOptionsError, generate } from "./generate.js";
import type { CaptionOptions } from "./options.js";

export type { CaptionOptions } from "./options.js";

export interface Caption {
  /**
   * The decoded caption exactly as transformers' fast `batch_decode(skip_special_tokens=True)` gives
   * it (BLIP-2's keeps a leading space and its newline stop token); people read `readableText()`.
   */
  text: string;
  /** transformers' `output_ids` row, padded to the call's width: BLIP's starts with `[DEC]` and includes the prompt; BLIP-2's is its bos then the new tokens. */
  ids: number[];
  /** Beam search's normalised score (`sequences_scores`). */
  score?: number;
}

/**
 * The caption as people read it (CLI lines, HTTP APIs, drafts): the exact text without surrounding
 * whitespace, as BLIP-2's model card strips it. BLIP's texts have none, so theirs are unchanged.
 */
export function readableText(caption: Pick<Caption, "text">): string {
  return caption.text.trim();
}

export type LoadCaptionerOptions = LoadModelOptions;

export class Captioner {
  constructor(readonly model: CaptionModel) {}

  /** Loads a checkpoint folder (config.json, weights, tokenizer.json, preprocessor_config.json) of any supported family. */
  static async load(folder: string, opts: LoadCaptionerOptions = {}): Promise<Captioner> {
    return new Captioner(await loadCaptionModel(folder, opts));
  }

  /** The generation defaults of this checkpoint (BLIP: `text_config`). */
  get defaults(): GenerationDefaults {
    const g = this.model.generation;
    if (g.earlyStopping === "never") throw new GenerationOptionsError('early_stopping="never" in config.json is not supported; set it to true or false');
    return { ...g, earlyStopping: g.earlyStopping };
  }

  /** Tokens the decoder starts from for `prompt` (BLIP: `[DEC]` + the prompt's word pieces). */
  promptLength(prompt: string | undefined): number {
    return this.model.promptIds(prompt).length;
  }

  /** Ids before the new tokens in an output row for `prompt` (BLIP: `[DEC]` + prompt; BLIP-2: its bos). */
  outputPrefixLength(prompt: string | undefined): number {
    const layout = this.model.special.layout ?? PROMPT_IN_SEQUENCE;
    return layout.outputStart.length + (layout.promptInSequence ? this.promptLength(prompt) : 0);
  }

  /**
   * Decodes and preprocesses image files' bytes into one `[n, 3, S, S]` pixel batch (large images
   * resized off the main thread). `onDecoded` sees each decoded image before it is resized (and
   * possibly handed to the worker): the one chance to look at the full pixels without decoding again.
   */
  async pixels(images: readonly Uint8Array[], limits?: DecodeLimits, onDecoded?: OnDecoded): Promise<Float32Array> {
    const parts = await Promise.all(images.map(async (bytes, i) => {
      const image = await decodeImage(bytes, limits);
      onDecoded?.(image, i);
      return toPixelValuesOffThread(image, this.model.imageProcessor);
    }));
    return concatFloat32(parts);
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
    const { special } = this.model;
    const perImage = this.model.imageSize ** 2 * 3;
    const results: { ids: number[]; score?: number }[][] = new Array(count);
    for (const group of groupBy(prompts.map((p, i) => [p.length, i] as const))) {
      const batch = new Float32Array(group.length * perImage);
      group.forEach((img, k) => batch.set(pixels.subarray(img * perImage, (img + 1) * perImage), k * perImage));
      const features = await this.model.encode(batch, group.length);
      const sequences = await generate(this.model.stepModel(features), group.map((i) => prompts[i]!), special, options, this.defaults);
      group.forEach((img, k) => (results[img] = sequences[k]!));
    }
    // Like transformers' output_ids, rows of one call share a width (finished rows padded).
    const width = Math.max(...results.flat().map((s) => s.ids.length));
    return results.map((list) =>
      list.map(({ ids, score }) => {
        const padded = [...ids, ...new Array<number>(width - ids.length).fill(special.pad)];
        const caption: Caption = { text: this.model.decode(padded), ids: padded };
        if (score !== undefined) caption.score = score;
        return caption;
      }),
    );
  }

  /** The decoder's first tokens for each of `count` images: one prompt for all, or one per image. */
  private promptIds(prompt: string | readonly string[] | undefined, count: number): number[][] {
    const list = typeof prompt === "string" || prompt === undefined ? new Array<string | undefined>(count).fill(prompt) : [...prompt];
    if (list.length !== count) throw new GenerationOptionsError(`got ${list.length} prompts for ${count} images; give one prompt, or one per image`);
    return list.map((p) => this.model.promptIds(p));
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}

/** Indices grouped by key, in first-seen order: `[[1,0],[2,1],[1,2]]` → `[[0,2],[1]]`. */
function groupBy(pairs: readonly (readonly [number, number])[]): number[][] {
  const groups = new Map<number, number[]>();
  for (const [key, i] of pairs) groups.set(key, [...(groups.get(key) ?? []), i]);
  return [...groups.values()];
}
