// Meteor 1.5's MeteorScorer / MeteorStats for English, task "rank" (alpha 0.85, beta 0.2,
// gamma 0.6, delta 0.75) with modules exact, stem, synonym (weights 1.0, 0.6, 0.8): sufficient
// statistics per segment (best reference by score, first on ties), the score from statistics,
// and corpus aggregation by MeteorStats.addStats (which skips the chunk of a perfect segment).
import { align } from "./aligner.js";
import { meteorTokens } from "./normalizer.js";
import { meteorFunctionWords } from "./resources.js";

const ALPHA = 0.85, BETA = 0.2, GAMMA = 0.6, DELTA = 0.75;
const MODULE_WEIGHTS = [1.0, 0.6, 0.8];
const MAX_MODULES = 4;

/** Meteor's aggregable sufficient statistics (the 23 numbers of its stats line). */
export interface MeteorStats {
  testLength: number;
  referenceLength: number;
  testFunctionWords: number;
  referenceFunctionWords: number;
  testTotalMatches: number;
  referenceTotalMatches: number;
  testStageMatchesContent: number[];
  referenceStageMatchesContent: number[];
  testStageMatchesFunction: number[];
  referenceStageMatchesFunction: number[];
  chunks: number;
  testWordMatches: number;
  referenceWordMatches: number;
}

/** Empty statistics, the start of an aggregation. */
export function emptyMeteorStats(): MeteorStats {
  const z = () => new Array<number>(MODULE_WEIGHTS.length).fill(0);
  return {
    testLength: 0, referenceLength: 0, testFunctionWords: 0, referenceFunctionWords: 0, testTotalMatches: 0,
    referenceTotalMatches: 0, testStageMatchesContent: z(), referenceStageMatchesContent: z(),
    testStageMatchesFunction: z(), referenceStageMatchesFunction: z(), chunks: 0, testWordMatches: 0, referenceWordMatches: 0,
  };
}

/** MeteorScorer.computeMetrics: the score of a set of statistics (NaN becomes 0). */
export function meteorScoreFromStats(s: MeteorStats): number {
  const testWeightedLength = DELTA * (s.testLength - s.testFunctionWords) + (1.0 - DELTA) * s.testFunctionWords;
  const referenceWeightedLength = DELTA * (s.referenceLength - s.referenceFunctionWords) + (1.0 - DELTA) * s.referenceFunctionWords;
  let testWeighted = 0, referenceWeighted = 0;
  for (let i = 0; i < MODULE_WEIGHTS.length; i++) testWeighted += s.testStageMatchesContent[i] * MODULE_WEIGHTS[i] * DELTA;
  for (let i = 0; i < MODULE_WEIGHTS.length; i++) referenceWeighted += s.referenceStageMatchesContent[i] * MODULE_WEIGHTS[i] * DELTA;
  for (let i = 0; i < MODULE_WEIGHTS.length; i++) testWeighted += s.testStageMatchesFunction[i] * MODULE_WEIGHTS[i] * (1.0 - DELTA);
  for (let i = 0; i < MODULE_WEIGHTS.length; i++) referenceWeighted += s.referenceStageMatchesFunction[i] * MODULE_WEIGHTS[i] * (1.0 - DELTA);
  const precision = testWeighted / testWeightedLength;
  const recall = referenceWeighted / referenceWeightedLength;
  const fMean = 1.0 / ((1.0 - ALPHA) / precision + ALPHA / recall);
  const perfect = s.testTotalMatches === s.testLength && s.referenceTotalMatches === s.referenceLength && s.chunks === 1;
  const frag = perfect ? 0 : s.chunks / ((s.testWordMatches + s.referenceWordMatches) / 2);
  const score = fMean * (1.0 - GAMMA * Math.pow(frag, BETA));
  return Number.isNaN(score) ? 0 : Math.max(score, 0.0);
}

/** Statistics of a test segment against one reference (both already tokenised by meteorTokens). */
export function meteorSegmentStats(test: string[], reference: string[]): MeteorStats {
  const a = align(test, reference, meteorFunctionWords(), MODULE_WEIGHTS.length);
  const s: MeteorStats = {
    testLength: a.testLength, referenceLength: a.referenceLength,
    testFunctionWords: a.testFunctionWords, referenceFunctionWords: a.referenceFunctionWords,
    testTotalMatches: 0, referenceTotalMatches: 0,
    testStageMatchesContent: a.contentMatches1, referenceStageMatchesContent: a.contentMatches2,
    testStageMatchesFunction: a.functionMatches1, referenceStageMatchesFunction: a.functionMatches2,
    chunks: a.chunks, testWordMatches: 0, referenceWordMatches: 0,
  };
  for (let i = 0; i < MODULE_WEIGHTS.length; i++) {
    s.testTotalMatches += s.testStageMatchesContent[i] + s.testStageMatchesFunction[i];
    s.referenceTotalMatches += s.referenceStageMatchesContent[i] + s.referenceStageMatchesFunction[i];
  }
  s.testWordMatches = s.testTotalMatches;
  s.referenceWordMatches = s.referenceTotalMatches;
  return s;
}

/** Meteor's SCORE line: normalise, score against each reference, keep the best (first on ties). */
export function meteorStats(prediction: string, references: readonly string[]): { stats: MeteorStats; score: number } {
  // pycocoevalcap's wrapper strips "|||" and one level of double spaces from the hypothesis.
  const test = meteorTokens(prediction.split("|||").join("").replace(/ {2}/g, " "));
  let best = { stats: emptyMeteorStats(), score: -1 };
  for (const ref of references) {
    const stats = meteorSegmentStats(test, meteorTokens(ref));
    const score = meteorScoreFromStats(stats);
    if (score > best.score) best = { stats, score };
  }
  return best;
}

/** MeteorStats.addStats: sums everything except the chunk of a perfectly matched segment. */
export function addMeteorStats(total: MeteorStats, s: MeteorStats): void {
  total.testLength += s.testLength;
  total.referenceLength += s.referenceLength;
  total.testFunctionWords += s.testFunctionWords;
  total.referenceFunctionWords += s.referenceFunctionWords;
  total.testTotalMatches += s.testTotalMatches;
  total.referenceTotalMatches += s.referenceTotalMatches;
  for (let i = 0; i < MODULE_WEIGHTS.length; i++) {
    total.testStageMatchesContent[i] += s.testStageMatchesContent[i];
    total.referenceStageMatchesContent[i] += s.referenceStageMatchesContent[i];
    total.testStageMatchesFunction[i] += s.testStageMatchesFunction[i];
    total.referenceStageMatchesFunction[i] += s.referenceStageMatchesFunction[i];
  }
  if (!(s.testTotalMatches === s.testLength && s.referenceTotalMatches === s.referenceLength && s.chunks === 1)) total.chunks += s.chunks;
  total.testWordMatches += s.testWordMatches;
  total.referenceWordMatches += s.referenceWordMatches;
}

/** Java's Double.toString for the integer-valued statistics ("6.0"). */
function javaDouble(x: number): string {
  return Number.isInteger(x) && Math.abs(x) < 1e7 ? `${x}.0` : String(x);
}

/** The 23-number stats line Meteor prints (MeteorStats.toString()). */
export function formatMeteorStats(s: MeteorStats): string {
  const parts = [s.testLength, s.referenceLength, s.testFunctionWords, s.referenceFunctionWords];
  for (let i = 0; i < MAX_MODULES; i++) {
    parts.push(s.testStageMatchesContent[i] ?? 0, s.referenceStageMatchesContent[i] ?? 0,
      s.testStageMatchesFunction[i] ?? 0, s.referenceStageMatchesFunction[i] ?? 0);
  }
  parts.push(s.chunks, s.testWordMatches, s.referenceWordMatches);
  return parts.map(javaDouble).join(" ");
}

/** METEOR (no paraphrase) of a corpus: per-item scores and the score of the summed statistics. */
export function meteor(items: readonly { prediction: string; references: readonly string[] }[]): {
  corpus: number;
  items: { score: number; stats: MeteorStats }[];
} {
  const total = emptyMeteorStats();
  const perItem = items.map((it) => {
    const r = meteorStats(it.prediction, it.references);
    addMeteorStats(total, r.stats);
    return r;
  });
  return { corpus: meteorScoreFromStats(total), items: perItem };
}
