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

/** The ids that steer stopping and padding, and how a generated row relates to its prompt. */
export interface SpecialIds {
  /** Generation stops on this id (BLIP passes `[SEP]`; BLIP-2 its text_config's eos, a newline). */
  eos: number;
  /** Further ids that also stop generation when a config lists several (transformers' eos_token_id list, `eos` first). */
  moreEos?: readonly number[];
  /** Finished rows are filled with this id. */
  pad: number;
  /** Where the prompt goes (absent: `PROMPT_IN_SEQUENCE`, BLIP's). */
  layout?: SequenceLayout;
}

/**
 * How transformers' generate() treats the prompt of a family. BLIP's decoder continues its input
 * ids: output rows, logits processors and max_length all count `[DEC]` + prompt. BLIP-2's language
 * model generates from `inputs_embeds` (queries + prompt embeddings): its sequence holds only new
 * tokens, the prompt counts only towards max_length/min_length, and BLIP-2 puts its bos in front.
 */
export interface SequenceLayout {
  /** The prompt's ids are part of the generated sequence (and so of the output row). */
  readonly promptInSequence: boolean;
  /** Ids put in front of every output row (BLIP-2: `bos_token_id`). */
  readonly outputStart: readonly number[];
  /** Positions max_length counts besides the prompt and the new tokens (BLIP-2: 1, its "-1 for the prepended BOS"). */
  readonly maxLengthReserve: number;
}

/** BLIP's layout: the row is `[DEC]` + prompt + new tokens, max_length counts all of them. */
export const PROMPT_IN_SEQUENCE: SequenceLayout = Object.freeze({ promptInSequence: true, outputStart: [], maxLengthReserve: 0 });

/** The special ids of a captioning model: where decoding starts, stops, and what pads. */
export interface CaptionSpecialIds extends SpecialIds {
  /** The decoder's start token (BLIP: `[DEC]`). */
  bos: number;
}
