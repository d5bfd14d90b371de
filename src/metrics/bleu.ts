// BLEU-1..4 exactly as pycocoevalcap's BleuScorer(n=4).compute_score(option="closest"):
// clipped counts against the max count over references, closest reference length (ties to
// the shorter), and the 1e-15 / 1e-9 terms that keep every value non-zero.
import { ngramCounts, ngramOrder, pySplit } from "./text.js";

const TINY = 1e-15;
const SMALL = 1e-9;

/** Sufficient statistics of one hypothesis against its references. */
export interface BleuStats {
  testlen: number;
  reflen_closest: number;
  guess: number[];
  correct: number[];
}

/** BLEU for one corpus: corpus scores, per-item scores and the counts behind them. */
export interface BleuResult {
  corpus: number[];
  items: { scores: number[]; stats: BleuStats }[];
  corpusStats: { testlen: number; reflen: number; guess: number[]; correct: number[]; ratio: number };
}

/** Counts for one item; words are Python `str.split()` tokens. bleuStats("a b", ["a c"]).correct → [1, 0, 0, 0] */
export function bleuStats(hypothesis: string, references: readonly string[], n = 4): BleuStats {
  const maxRef = new Map<string, number>();
  const refLens: number[] = [];
  for (const ref of references) {
    const words = pySplit(ref);
    refLens.push(words.length);
    for (const [g, c] of ngramCounts(words, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
  }
  const hyp = pySplit(hypothesis);
  const testlen = hyp.length;
  let best = refLens[0];
  for (const l of refLens) {
    const d = Math.abs(l - testlen), bd = Math.abs(best - testlen);
    if (d < bd || (d === bd && l < best)) best = l;
  }
  const guess = Array.from({ length: n }, (_, k) => Math.max(0, testlen - k));
  const correct = new Array<number>(n).fill(0);
  for (const [g, c] of ngramCounts(hyp, n)) correct[ngramOrder(g) - 1] += Math.min(maxRef.get(g) ?? 0, c);
  return { testlen, reflen_closest: best, guess, correct };
}

function bleuFromCounts(testlen: number, reflen: number, guess: number[], correct: number[]): number[] {
  const scores: number[] = [];
  let product = 1;
  for (let k = 0; k < guess.length; k++) {
    product *= (correct[k] + TINY) / (guess[k] + SMALL);
    scores.push(product ** (1 / (k + 1)));
  }
  const ratio = (testlen + TINY) / (reflen + SMALL);
  if (ratio < 1) for (let k = 0; k < scores.length; k++) scores[k] *= Math.exp(1 - 1 / ratio);
  return scores;
}

/** Corpus BLEU-1..n over items scored together. bleu([{prediction:"a b", references:["a b"]}]).corpus[0] ≈ 1 */
export function bleu(items: readonly { prediction: string; references: readonly string[] }[], n = 4): BleuResult {
  const total = { testlen: 0, reflen: 0, guess: new Array<number>(n).fill(0), correct: new Array<number>(n).fill(0) };
  const perItem = items.map((it) => {
    const stats = bleuStats(it.prediction, it.references, n);
    total.testlen += stats.testlen;
    total.reflen += stats.reflen_closest;
    for (let k = 0; k < n; k++) {
      total.guess[k] += stats.guess[k];
      total.correct[k] += stats.correct[k];
    }
    return { scores: bleuFromCounts(stats.testlen, stats.reflen_closest, stats.guess, stats.correct), stats };
  });
  const corpus = bleuFromCounts(total.testlen, total.reflen, total.guess, total.correct);
  const ratio = (total.testlen + TINY) / (total.reflen + SMALL);
  return { corpus, items: perItem, corpusStats: { ...total, ratio } };
}
