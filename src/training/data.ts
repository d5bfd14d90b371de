// Training data: every (image, reference caption) pair of an imagefolder split, tokenized once;
// a seeded shuffle per epoch whose generator state can be saved and restored; and the batch as
// BLIP's training wants it (transformers' padding="longest", `[DEC]` in column 0 as in generation,
// padding → -100 in the labels).
import type { DatasetItem } from "../datasets/imagefolder.js";
import type { CaptionSpecialIds } from "../models/step_model.js";
import type { Tokenizer } from "../preprocess/tokenizers.js";

/** Label value the loss ignores (PyTorch's `ignore_index`). */
export const IGNORED_LABEL = -100;

/** One training example: an image of the split (its index) and one of its captions, tokenized. */
export interface CaptionPair {
  image: number;
  caption: string;
  /** The tokenizer's ids: `[CLS] … [SEP]`. */
  ids: readonly number[];
}

/** The token rows of a batch (the image rows are added by the loop). */
export interface TokenBatch {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
}

/** A caption that cannot be trained on; the message names the item and the fix. */
export class TrainingDataError extends Error {
  override name = "TrainingDataError";
}

/**
 * Every reference caption of every item, paired with its image, in dataset order.
 * captionPairs([{ references: ["a", "b"] }, { references: ["c"] }]) → pairs of images 0, 0, 1
 */
export function captionPairs(items: readonly DatasetItem[], tokenizer: Tokenizer, maxPositions: number): CaptionPair[] {
  return items.flatMap((item, image) =>
    item.references.map((caption) => {
      const ids = tokenizer.encode(caption).ids;
      if (ids.length > maxPositions) {
        throw new TrainingDataError(`${item.id}: caption "${caption}" is ${ids.length} tokens long; the model's decoder holds at most ${maxPositions}; shorten it`);
      }
      return { image, caption, ids };
    }),
  );
}

/**
 * Pads to the longest row, puts the decoder's start token in column 0 (BLIP generates from `[DEC]`;
 * transformers' forward would leave `[CLS]` there) and masks padding out of the loss.
 * collate([[4, 9, 5], [4, 5]], { bos: 200, pad: 0 }).labels → [[200, 9, 5], [200, 5, -100]]
 */
export function collate(rows: readonly (readonly number[])[], special: Pick<CaptionSpecialIds, "bos" | "pad">): TokenBatch {
  const width = Math.max(...rows.map((r) => r.length));
  const inputIds = rows.map((r) => [special.bos, ...r.slice(1), ...new Array<number>(width - r.length).fill(special.pad)]);
  const attentionMask = rows.map((r) => Array.from({ length: width }, (_, t) => (t < r.length ? 1 : 0)));
  const labels = inputIds.map((r, i) => r.map((id, t) => (attentionMask[i]![t] ? id : IGNORED_LABEL)));
  return { inputIds, attentionMask, labels };
}

/** Positions the loss counts in `labels`: shifted by one (position t predicts t + 1), padding ignored. */
export function targetTokens(labels: readonly (readonly number[])[]): number {
  let n = 0;
  for (const row of labels) for (let t = 1; t < row.length; t++) if (row[t] !== IGNORED_LABEL) n++;
  return n;
}

/**
 * A small seeded generator (mulberry32) whose whole state is one 32-bit number, so a training
 * state file can hold it and a resumed run draws the same numbers.
 * new Prng(42).next() → a float in [0, 1), the same on every run
 */
export class Prng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  static fromState(state: number): Prng {
    return new Prng(state);
  }

  get state(): number {
    return this.s;
  }

  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A Fisher–Yates permutation of 0..n-1 drawn from `rng`. */
export function shuffledOrder(n: number, rng: Prng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Consecutive slices of `order`; the last one may be shorter (every pair is seen once per epoch). */
export function batchesOf(order: readonly number[], batchSize: number): number[][] {
  const batches: number[][] = [];
  for (let at = 0; at < order.length; at += batchSize) batches.push(order.slice(at, at + batchSize));
  return batches;
}
