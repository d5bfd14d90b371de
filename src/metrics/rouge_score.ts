// Google's rouge_score 0.1.2 (what HF `evaluate`'s "rouge" runs): rouge1, rouge2, rougeL and
// rougeLsum with its default tokenizer, optionally with the NLTK Porter stemmer; several
// references are handled by score_multi (best F per rouge type, first on ties).
import { porterStem } from "./porter.js";

/** Precision, recall and F of one rouge type. */
export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

export const ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"] as const;
export type RougeType = (typeof ROUGE_TYPES)[number];

/** rouge_score's tokenizer. rougeTokenize("Café au lait!", false) → ["caf", "au", "lait"] */
export function rougeTokenize(text: string, useStemmer: boolean): string[] {
  let tokens = text.toLowerCase().replace(/[^a-z0-9]+/g, " ").split(/\s+/);
  if (useStemmer) tokens = tokens.map((t) => (t.length > 3 ? porterStem(t) : t));
  return tokens.filter((t) => /^[a-z0-9]+$/.test(t));
}

function fmeasure(p: number, r: number): number {
  return p + r > 0 ? (2 * p * r) / (p + r) : 0;
}

function ngrams(tokens: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = tokens.slice(i, i + n).join(" ");
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function scoreNgrams(target: Map<string, number>, prediction: Map<string, number>): RougeScore {
  let overlap = 0, tCount = 0, pCount = 0;
  for (const [g, c] of target) overlap += Math.min(c, prediction.get(g) ?? 0);
  for (const c of target.values()) tCount += c;
  for (const c of prediction.values()) pCount += c;
  const precision = overlap / Math.max(pCount, 1), recall = overlap / Math.max(tCount, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

function lcsTable(ref: readonly string[], can: readonly string[]): number[][] {
  const t = Array.from({ length: ref.length + 1 }, () => new Array<number>(can.length + 1).fill(0));
  for (let i = 1; i <= ref.length; i++) {
    for (let j = 1; j <= can.length; j++) {
      t[i][j] = ref[i - 1] === can[j - 1] ? t[i - 1][j - 1] + 1 : Math.max(t[i - 1][j], t[i][j - 1]);
    }
  }
  return t;
}

function scoreLcs(target: readonly string[], prediction: readonly string[]): RougeScore {
  if (target.length === 0 || prediction.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsTable(target, prediction)[target.length][prediction.length];
  const precision = lcs / prediction.length, recall = lcs / target.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** Indices into `ref` of one LCS with `can`, read back as rouge_score's _backtrack_norec does. */
function lcsIndices(ref: readonly string[], can: readonly string[]): number[] {
  const t = lcsTable(ref, can);
  const out: number[] = [];
  let i = ref.length, j = can.length;
  while (i > 0 && j > 0) {
    if (ref[i - 1] === can[j - 1]) {
      out.unshift(i - 1);
      i--;
      j--;
    } else if (t[i][j - 1] > t[i - 1][j]) j--;
    else i--;
  }
  return out;
}

function summaryLevelLcs(refSents: string[][], canSents: string[][]): RougeScore {
  const zero = { precision: 0, recall: 0, fmeasure: 0 };
  if (refSents.length === 0 || canSents.length === 0) return zero;
  const m = refSents.reduce((a, s) => a + s.length, 0), n = canSents.reduce((a, s) => a + s.length, 0);
  if (!n || !m) return zero;
  const cntR = new Map<string, number>(), cntC = new Map<string, number>();
  for (const s of refSents) for (const t of s) cntR.set(t, (cntR.get(t) ?? 0) + 1);
  for (const s of canSents) for (const t of s) cntC.set(t, (cntC.get(t) ?? 0) + 1);
  let hits = 0;
  for (const r of refSents) {
    const union = new Set<number>();
    for (const c of canSents) for (const i of lcsIndices(r, c)) union.add(i);
    for (const i of [...union].sort((a, b) => a - b)) {
      const t = r[i];
      if ((cntC.get(t) ?? 0) > 0 && (cntR.get(t) ?? 0) > 0) {
        hits++;
        cntC.set(t, cntC.get(t)! - 1);
        cntR.set(t, cntR.get(t)! - 1);
      }
    }
  }
  const recall = hits / m, precision = hits / n;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** A text tokenized once for every rouge type. */
interface Prepared {
  tokens: string[];
  unigrams: Map<string, number>;
  bigrams: Map<string, number>;
  sentences: string[][];
}

function prepare(text: string, useStemmer: boolean): Prepared {
  const tokens = rougeTokenize(text, useStemmer);
  // rougeLsum: sentences are the non-empty lines.
  const lines = text.split("\n").filter((x) => x.length > 0);
  const sentences = lines.length === 1 && lines[0] === text ? [tokens] : lines.map((x) => rougeTokenize(x, useStemmer));
  return { tokens, unigrams: ngrams(tokens, 1), bigrams: ngrams(tokens, 2), sentences };
}

function scorePrepared(t: Prepared, p: Prepared): Record<RougeType, RougeScore> {
  return {
    rouge1: scoreNgrams(t.unigrams, p.unigrams),
    rouge2: scoreNgrams(t.bigrams, p.bigrams),
    rougeL: scoreLcs(t.tokens, p.tokens),
    rougeLsum: summaryLevelLcs(t.sentences, p.sentences),
  };
}

/** RougeScorer.score(target, prediction) for all four types. */
export function rougeScoreSingle(target: string, prediction: string, useStemmer: boolean): Record<RougeType, RougeScore> {
  return scorePrepared(prepare(target, useStemmer), prepare(prediction, useStemmer));
}

/** RougeScorer.score_multi(targets, prediction). rougeScore(["a b"], "a b").rouge1.fmeasure → 1 */
export function rougeScore(targets: readonly string[], prediction: string, useStemmer = false): Record<RougeType, RougeScore> {
  const p = prepare(prediction, useStemmer);
  const all = targets.map((t) => scorePrepared(prepare(t, useStemmer), p));
  const best = {} as Record<RougeType, RougeScore>;
  for (const k of ROUGE_TYPES) {
    let idx = 0;
    for (let i = 1; i < all.length; i++) if (all[i][k].fmeasure > all[idx][k].fmeasure) idx = i;
    best[k] = all[idx][k];
  }
  return best;
}
