// `generate()` as transformers 4.40 runs it for BLIP and BLIP-2: greedy search or beam search over a
// StepModel, with its length rules and logits processors. Every row of one call shares the prompt
// length. How the prompt relates to the generated sequence is the family's SequenceLayout.
import * as proc from "./processors.js";
import { PROMPT_IN_SEQUENCE, type SequenceLayout, type SpecialIds, type StepModel } from "../models/step_model.js";
import { checkOptionValues, type GenerationDefaults, type GenerationOptions, GenerationOptionsError, TRANSFORMERS_DEFAULTS } from "./options.js";

export { type GenerationDefaults, type GenerationOptions, GenerationOptionsError, TRANSFORMERS_DEFAULTS } from "./options.js";

/** One generated sequence: transformers' output row (BLIP: prompt included; BLIP-2: bos + new tokens), and the beam score. */
export interface Sequence {
  ids: number[];
  score?: number;
}

/** Called with each row's processed scores at every greedy step (for tests and diagnostics). */
export type ScoreObserver = (row: number, step: number, scores: Float32Array) => void;

/**
 * Generates for every row of `model` (row r is fed `prompts[r]` first); returns, per row,
 * `numReturnSequences` sequences. The model must hold `prompts.length` rows that have been fed no
 * tokens yet (BLIP-2's rows still hold its queries, which its first step puts in front of the prompt).
 */
export async function generate(
  model: StepModel, prompts: readonly (readonly number[])[], special: SpecialIds,
  options: GenerationOptions = {}, defaults: GenerationDefaults = TRANSFORMERS_DEFAULTS, observe?: ScoreObserver,
): Promise<Sequence[][]> {
  const layout = special.layout ?? PROMPT_IN_SEQUENCE;
  const promptLength = prompts[0]!.length;
  const o = resolveOptions(options, defaults, promptLength, model.maxPositions, layout);
  // Lengths below count the generated sequence: BLIP's starts with its prompt, BLIP-2's is empty.
  const start = layout.promptInSequence ? promptLength : 0;
  const outside = promptLength - start;
  const search: Search = {
    start,
    maxLength: o.maxLength - outside,
    processors: logitsProcessors(o, outside, stopIds(special)),
    special,
  };
  const sequences = o.numBeams === 1
    ? (await greedy(model, prompts, search, observe)).map((ids) => [{ ids }])
    : await beamSearch(model, prompts, o, search);
  if (layout.outputStart.length === 0) return sequences;
  return sequences.map((list) => list.map((s) => ({ ...s, ids: [...layout.outputStart, ...s.ids] })));
}

/** What greedy and beam search share: where the sequence starts and ends, and the processors. */
interface Search {
  /** Length of the sequence before the first new token. */
  start: number;
  /** The sequence's greatest length. */
  maxLength: number;
  processors: proc.LogitsProcessor[];
  special: SpecialIds;
}

function stopIds(special: SpecialIds): number[] {
  return [special.eos, ...(special.moreEos ?? [])];
}

type Resolved = GenerationDefaults;

/**
 * Checks options and applies transformers' length rules (max_new_tokens wins over max_length;
 * min_new_tokens, 0 included, replaces min_length). The returned lengths count the prompt and the
 * new tokens (maxLength minus what the layout reserves).
 * `maxPositions`: the tokens the model can hold; a longer sequence is refused (transformers crashes).
 */
export function resolveOptions(
  options: GenerationOptions, defaults: GenerationDefaults, promptLength: number, maxPositions = Infinity, layout: SequenceLayout = PROMPT_IN_SEQUENCE,
): Resolved {
  const o = { ...defaults, ...definedOnly(options) } as Resolved & GenerationOptions;
  checkOptionValues(o);
  if (o.numReturnSequences > o.numBeams) {
    throw new GenerationOptionsError(`numReturnSequences (${o.numReturnSequences}) cannot exceed numBeams (${o.numBeams}); greedy search returns one sequence`);
  }
  const reserve = options.maxNewTokens === undefined ? layout.maxLengthReserve : 0;
  if (options.maxNewTokens !== undefined) o.maxLength = options.maxNewTokens + promptLength;
  // transformers 4.40's _prepare_generated_length: given min_new_tokens, min_length is no longer read.
  if (options.minNewTokens !== undefined) o.minLength = options.minNewTokens + promptLength;
  const limit = o.maxLength - reserve;
  if (limit <= promptLength) {
    // transformers 4.40 refuses this too, for BLIP and BLIP-2 (_validate_generated_length: nothing left to generate).
    const reserved = reserve ? ` plus the ${reserve} this model's max_length reserves` : "";
    throw new GenerationOptionsError(`maxLength (${o.maxLength}) must be greater than the prompt's ${promptLength} tokens (start token included)${reserved}; raise maxLength or use maxNewTokens`, "option_out_of_range");
  }
  if (limit > maxPositions) {
    const reserved = reserve ? `, less the ${reserve} this model's max_length reserves: ${limit} tokens` : "";
    throw new GenerationOptionsError(
      `maxLength ${o.maxLength} (the prompt's ${promptLength} tokens, start token included, plus new tokens${reserved}) exceeds the model's ${maxPositions} positions; shorten the prompt or lower maxNewTokens`,
      "option_out_of_range",
    );
  }
  o.maxLength = limit;
  return o;
}

function definedOnly<T extends object>(x: T): Partial<T> {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** transformers' processors over the generated sequence (`outside`: prompt tokens not in it). */
function logitsProcessors(o: Resolved, outside: number, eos: readonly number[]): proc.LogitsProcessor[] {
  const list: proc.LogitsProcessor[] = [];
  if (o.repetitionPenalty !== 1) list.push(proc.repetitionPenalty(o.repetitionPenalty));
  if (o.noRepeatNgramSize > 0) list.push(proc.noRepeatNgram(o.noRepeatNgramSize));
  // min_new_tokens arrives as min_length (transformers' MinNewTokens processor then repeats the same rule).
  if (o.minLength - outside > 0) list.push(proc.minLength(o.minLength - outside, eos));
  return list;
}

/** Greedy search; finished rows leave the model's batch, and are padded at the end like transformers'. */
async function greedy(model: StepModel, prompts: readonly (readonly number[])[], s: Search, observe?: ScoreObserver): Promise<number[][]> {
  const V = model.vocabSize;
  const stops = stopIds(s.special);
  const seqs = prompts.map((p) => p.slice(p.length - s.start));
  let active = seqs.map((_, i) => i);
  let logits = await model.step(prompts);
  for (let step = 0; ; step++) {
    const stillActive: number[] = [];
    active.forEach((row, k) => {
      const scores = logits.slice(k * V, (k + 1) * V);
      for (const p of s.processors) p(seqs[row]!, scores);
      observe?.(row, step, scores);
      const token = argmax(scores);
      seqs[row]!.push(token);
      if (!stops.includes(token)) stillActive.push(k);
    });
    if (stillActive.length === 0 || seqs[active[0]!]!.length >= s.maxLength) break;
    if (stillActive.length < active.length) model.reorder(stillActive);
    active = stillActive.map((k) => active[k]!);
    logits = await model.step(active.map((row) => [seqs[row]!.at(-1)!]));
  }
  const width = Math.max(...seqs.map((q) => q.length));
  return seqs.map((q) => [...q, ...new Array<number>(width - q.length).fill(s.special.pad)]);
}

/** First index of the largest value (torch.argmax's tie rule). */
export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Finished hypotheses of one input row (transformers' BeamHypotheses). */
class Hypotheses {
  readonly beams: { score: number; ids: number[] }[] = [];
  worst = 1e9;
  constructor(private readonly size: number, private readonly lengthPenalty: number, private readonly earlyStopping: boolean) {}

  add(ids: number[], sumLogprobs: number, generatedLength: number): void {
    const score = sumLogprobs / generatedLength ** this.lengthPenalty;
    if (this.beams.length < this.size || score > this.worst) {
      this.beams.push({ score, ids });
      if (this.beams.length > this.size) {
        const sorted = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) => a[0] - b[0]);
        this.beams.splice(sorted[0]![1], 1);
        this.worst = sorted[1]![0];
      } else this.worst = Math.min(score, this.worst);
    }
  }

  /** Whether no open beam can beat the finished ones (early_stopping=False heuristic of 4.40). */
  isDone(bestSumLogprobs: number, generatedLength: number): boolean {
    if (this.beams.length < this.size) return false;
    if (this.earlyStopping) return true;
    return this.worst >= bestSumLogprobs / generatedLength ** this.lengthPenalty;
  }
}

/** Beam search as transformers 4.40's `_beam_search` + `BeamSearchScorer`; done rows leave the batch. */
async function beamSearch(model: StepModel, prompts: readonly (readonly number[])[], o: Resolved, s: Search): Promise<Sequence[][]> {
  const V = model.vocabSize;
  const nb = o.numBeams;
  const { start, processors, special } = s;
  const stops = stopIds(special);
  const hyps = prompts.map(() => new Hypotheses(nb, o.lengthPenalty, o.earlyStopping));
  let alive = prompts.map((_, b) => b); // input rows still searching; model rows = alive × nb
  const fed = alive.flatMap((b) => new Array<readonly number[]>(nb).fill(prompts[b]!));
  let seqs = fed.map((p) => p.slice(p.length - start));
  let beamScores = Float32Array.from(seqs, (_, r) => (r % nb === 0 ? 0 : -1e9));
  model.reorder(alive.flatMap((b) => new Array<number>(nb).fill(b)));
  let logits = await model.step(fed);
  for (;;) {
    const curLen = seqs[0]!.length + 1; // the length the candidates would have
    const order: number[] = [];
    const nextSeqs: number[][] = [];
    const nextScores: number[] = [];
    const stillAlive: number[] = [];
    alive.forEach((b, k) => {
      const candidates = topCandidates(logits, seqs, beamScores, k * nb, nb, V, processors);
      const chosen: number[] = [];
      for (let rank = 0; rank < candidates.length && chosen.length < nb; rank++) {
        const c = candidates[rank]!;
        if (stops.includes(c.token)) {
          if (rank < nb) hyps[b]!.add(seqs[c.row]!, c.score, curLen - start);
        } else {
          chosen.push(c.row);
          order.push(c.row);
          nextSeqs.push([...seqs[c.row]!, c.token]);
          nextScores.push(c.score);
        }
      }
      if (!hyps[b]!.isDone(candidates[0]!.score, curLen - start)) stillAlive.push(k);
    });
    // Rows of searches that just finished are dropped from the batch.
    const keep = stillAlive.flatMap((k) => Array.from({ length: nb }, (_, j) => k * nb + j));
    const finishing = alive.filter((_, k) => !stillAlive.includes(k));
    seqs = nextSeqs;
    beamScores = Float32Array.from(nextScores);
    if (finishing.length > 0) {
      alive = stillAlive.map((k) => alive[k]!);
      seqs = keep.map((r) => nextSeqs[r]!);
      beamScores = Float32Array.from(keep, (r) => nextScores[r]!);
      model.reorder(keep.map((r) => order[r]!));
    } else model.reorder(order);
    if (alive.length === 0 || seqs[0]!.length >= s.maxLength) break;
    logits = await model.step(seqs.map((q) => [q.at(-1)!]));
  }
  // Open beams of searches that hit max_length join their hypotheses.
  alive.forEach((b, k) => {
    for (let j = 0; j < nb; j++) hyps[b]!.add(seqs[k * nb + j]!, beamScores[k * nb + j]!, seqs[k * nb + j]!.length - start);
  });
  const best = hyps.map((h) => [...h.beams].sort((a, b) => b.score - a.score).slice(0, o.numReturnSequences));
  const longest = Math.max(...best.flat().map((h) => h.ids.length)) + 1;
  const width = Math.min(longest, s.maxLength);
  return best.map((list) =>
    list.map(({ ids, score }) => {
      const row = ids.length < width ? [...ids, special.eos] : [...ids];
      return { ids: [...row, ...new Array<number>(width - row.length).fill(special.pad)], score };
    }),
  );
}

interface Candidate {
  row: number;
  token: number;
  score: number;
}

/** The 2·nb best (row, token) continuations of one input row's beams, best first. */
function topCandidates(
  logits: Float32Array, seqs: number[][], beamScores: Float32Array, firstRow: number, nb: number, V: number,
  processors: proc.LogitsProcessor[],
): Candidate[] {
  const k = 2 * nb;
  const top: Candidate[] = [];
  for (let j = 0; j < nb; j++) {
    const r = firstRow + j;
    const scores = logSoftmax(logits.subarray(r * V, (r + 1) * V));
    for (const p of processors) p(seqs[r]!, scores);
    const base = beamScores[r]!;
    for (let t = 0; t < V; t++) {
      const s = Math.fround(scores[t]! + base);
      if (top.length === k && !(s > top[k - 1]!.score)) continue;
      let at = top.length;
      while (at > 0 && top[at - 1]!.score < s) at--;
      top.splice(at, 0, { row: r, token: t, score: s });
      if (top.length > k) top.pop();
    }
  }
  return top;
}

/** log_softmax in float32, as torch computes it: `x − max − log Σ exp(x − max)`. */
function logSoftmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const logSum = Math.log(sum);
  return Float32Array.from(x, (v) => v - max - logSum);
}
