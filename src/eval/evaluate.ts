// Evaluating a captioner on a dataset split: caption every image in batches, score the captions
// against the references with every metric, and measure throughput. The library behind `captioner eval`.
import * as fs from "node:fs/promises";
import { type Caption, type CaptionOptions, readableText } from "../generation/captioner.js";
import { scoreCorpus, type CorpusScores, type ItemScores } from "../metrics/corpus.js";
import type { Tokenization } from "../metrics/coco.js";
import { MetricsInputError } from "../metrics/text.js";

/** What evaluation needs of a captioner (a `Captioner` has it; so does a served model, whose captions are text only). */
export interface CaptionsImages {
  caption(images: readonly Uint8Array[], options?: CaptionOptions): Promise<Pick<Caption, "text">[][]>;
}

/** An image to caption and its references (a training `DatasetItem` is one). */
export interface EvalInput {
  id: string;
  /** Path of the image file. */
  file: string;
  references: readonly string[];
}

/** Progress after each batch. */
export interface EvalProgress {
  done: number;
  total: number;
  /** Milliseconds since captioning started. */
  elapsedMs: number;
  imagesPerSecond: number;
  /** Estimated milliseconds left at the current rate. */
  etaMs: number;
}

export interface EvaluateOptions {
  /** Images per `caption()` call (default 8). */
  batchSize?: number;
  /** Generation options for every batch. With several return sequences, the first (best) is scored. */
  caption?: CaptionOptions;
  /** Caption preparation for the COCO metrics (default "ptb", as COCOEvalCap). */
  tokenization?: Tokenization;
  /** Called after every batch. */
  onProgress?: (progress: EvalProgress) => void;
  /** Leave out items whose image file is gone (a stored item deleted meanwhile) and list them in `skipped`, instead of failing. */
  skipMissing?: boolean;
}

/** One evaluated image: its prediction, references and per-item scores. */
export interface EvaluatedItem extends ItemScores {
  prediction: string;
  references: string[];
}

/** The `captioner eval --json` document: corpus metrics with the keys of `captioner metrics`. */
export interface EvaluationResult extends Omit<CorpusScores, "items"> {
  n: number;
  /** Images captioned per second (reading, decoding, preprocessing and generation; not scoring). */
  images_per_s: number;
  items: EvaluatedItem[];
  /** Ids of the items left out because their image was gone (with `skipMissing`). */
  skipped?: string[];
}

/**
 * Captions `items` in batches and scores them with `scoreCorpus`.
 * (await evaluate(captioner, split.items, { batchSize: 8 })).coco.CIDEr → corpus CIDEr-D
 */
export async function evaluate(captioner: CaptionsImages, items: readonly EvalInput[], opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new MetricsInputError(`batch size must be a whole number ≥ 1, got ${batchSize}`);
  if (items.length === 0) throw new MetricsInputError("the dataset has no items to evaluate");
  const all = items;
  const kept: EvalInput[] = [];
  const skipped: string[] = [];
  const predictions: string[] = [];
  const start = performance.now();
  for (let at = 0; at < all.length; at += batchSize) {
    const read = await Promise.all(all.slice(at, at + batchSize).map(async (it) => ({ it, image: await readImage(it, opts.skipMissing === true) })));
    const batch = read.filter((r): r is { it: EvalInput; image: Uint8Array } => r.image !== null || (skipped.push(r.it.id), false));
    if (batch.length > 0) {
      const captions = await captioner.caption(batch.map((r) => r.image), opts.caption);
      predictions.push(...captions.map((list) => (list[0] ? readableText(list[0]) : "")));
      kept.push(...batch.map((r) => r.it));
    }
    opts.onProgress?.(progress(Math.min(at + batchSize, all.length), all.length, performance.now() - start));
  }
  if (kept.length === 0) throw new MetricsInputError("every item's image is gone (deleted during the evaluation); nothing to score");
  items = kept;
  const seconds = (performance.now() - start) / 1000;
  const scores = scoreCorpus(
    items.map((it, i) => ({ id: it.id, prediction: predictions[i]!, references: it.references })),
    { tokenization: opts.tokenization },
  );
  const { items: perItem, ...corpus } = scores;
  return {
    n: items.length,
    images_per_s: items.length / Math.max(seconds, 1e-9),
    ...corpus,
    items: perItem.map((s, i) => ({ id: s.id, prediction: predictions[i]!, references: [...items[i]!.references], coco: s.coco, jiwer: s.jiwer, rouge: s.rouge, rouge_stemmed: s.rouge_stemmed })),
    ...(opts.skipMissing ? { skipped } : {}),
  };
}

function progress(done: number, total: number, elapsedMs: number): EvalProgress {
  const imagesPerSecond = done / Math.max(elapsedMs / 1000, 1e-9);
  return { done, total, elapsedMs, imagesPerSecond, etaMs: ((total - done) / imagesPerSecond) * 1000 };
}

/** The item's image; null when it is gone and `skipMissing`. The error names the item, not the file (a store's paths stay out of job errors). */
async function readImage(item: EvalInput, skipMissing: boolean): Promise<Uint8Array | null> {
  try {
    const b = await fs.readFile(item.file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (skipMissing && code === "ENOENT") return null;
    throw new MetricsInputError(`cannot read the image of item "${item.id}" (${code ?? (error as Error).message})`);
  }
}
