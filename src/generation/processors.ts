// Logits processors of transformers 4.40, in the order `_get_logits_processor` applies them.
// Each edits one row of scores in place; `sequence` is the row's generated sequence so far (BLIP: prompt
// included; BLIP-2: only new tokens, as its language model sees them).

export type LogitsProcessor = (sequence: readonly number[], scores: Float32Array) => void;

/** CTRL's repetition penalty: seen tokens' scores are divided (positive) or multiplied (negative) by `penalty`. */
export function repetitionPenalty(penalty: number): LogitsProcessor {
  return (sequence, scores) => {
    for (const id of new Set(sequence)) {
      const s = scores[id]!;
      scores[id] = s < 0 ? s * penalty : s / penalty;
    }
  };
}

/** Bans every token that would repeat an n-gram already in the sequence. */
export function noRepeatNgram(n: number): LogitsProcessor {
  return (sequence, scores) => {
    if (sequence.length + 1 < n) return;
    const prefix = sequence.slice(sequence.length - n + 1).join(",");
    for (let start = 0; start + n <= sequence.length; start++) {
      if (sequence.slice(start, start + n - 1).join(",") === prefix) scores[sequence[start + n - 1]!] = -Infinity;
    }
  };
}

/** Forbids the stop ids `eos` while the sequence is shorter than `minLength` tokens. */
export function minLength(minLength: number, eos: readonly number[]): LogitsProcessor {
  return (sequence, scores) => {
    if (sequence.length < minLength) for (const id of eos) scores[id] = -Infinity;
  };
}
