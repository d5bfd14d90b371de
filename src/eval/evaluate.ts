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
}

/**
 * Captions `items` in batches and scores them with `scoreCorpus`.
 * (await evaluate(captioner, split.items, { batchSize: 8 })).coco.CIDEr → corpus CIDEr-D
 */
export async function evaluate(captioner: CaptionsImages, items: readonly EvalInput[], opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new MetricsInputError(`batch size must be a whole number ≥ 1, got ${batchSize}`);
  if (items.length === 0) throw new MetricsInputError("the dataset has no items to evaluate");
  const predictions: string[] = [];
  const start = performance.now();
  for (let at = 0; at < items.length; at += batchSize) {
    const batch = items.slice(at, at + batchSize);
    const images = await Promise.all(batch.map((it) => readImage(it.file)));
    const captions = await captioner.caption(images, opts.caption);
    predictions.push(...captions.map((list) => (list[0] ? readableText(list[0]) : "")));
    opts.onProgress?.(progress(predictions.length, items.length, performance.now() - start));
  }
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
  };
}

function progress(done: number, total: number, elapsedMs: number): EvalProgress {
  const imagesPerSecond = done / Math.max(elapsedMs / 1000, 1e-9);
  return { done, total, elapsedMs, imagesPerSecond, etaMs: ((total - done) / imagesPerSecond) * 1000 };
}

async function readImage(file: string): Promise<Uint8Array> {
  try {
    const b = await fs.readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (error) {
    throw new MetricsInputError(`cannot read image ${file}: ${(error as Error).message}`);
  }
}
