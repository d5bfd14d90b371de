// What the generation loop needs from a model: feed tokens, get next-token logits, reorder rows.
// Every model family implements it over its graphs; the loop (src/generation) is shared.

/** A decoder with a KV cache over `rows` sequences. */
export interface StepModel {
  readonly vocabSize: number;
  /** The longest sequence the model can hold (its position embeddings). */
  readonly maxPositions: number;
  /** Number of rows currently held. */
  readonly rows: number;
  /**
   * Appends `tokens[r]` to row r (every row the same count: the prompt at first, then one token)
   * and returns the logits of each row's last position, `[rows × vocab]`.
   */
  step(tokens: readonly (readonly number[])[]): Promise<Float32Array>;
  /** Like `step`, but returns the logits of every new position, `[rows × t × vocab]` (teacher forcing). */
  forward(tokens: readonly (readonly number[])[]): Promise<{ logits: Float32Array; length: number }>;
  /** Keeps, duplicates or reorders rows: row i becomes old row `order[i]`. */
  reorder(order: readonly number[]): void;
}

/** The ids that steer stopping and padding. */
export interface SpecialIds {
  /** Generation stops on this id (BLIP passes `[SEP]`). */
  eos: number;
  /** Finished rows are filled with this id. */
  pad: number;
}

/** The special ids of a captioning model: where decoding starts, stops, and what pads. */
export interface CaptionSpecialIds extends SpecialIds {
  /** The decoder's start token (BLIP: `[DEC]`). */
  bos: number;
}
