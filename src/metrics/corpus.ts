// Every metric of one corpus at once: the library entry point that `captioner metrics` and
// `captioner eval` use.
import { cocoScores, type CocoScores, type Tokenization } from "./coco.js";
import { jiwerMeasures } from "./jiwer.js";
import { ROUGE_TYPES, rougeScore, type RougeType } from "./rouge_score.js";
import { MetricsInputError } from "./text.js";

/** One item to score: a prediction and its references (jiwer uses references[0]). */
export interface ScoreItem {
  id: string;
  prediction: string;
  references: readonly string[];
}

export interface ScoreOptions {
  /** Caption preparation for the COCO metrics; "ptb" is what COCOEvalCap does. */
  tokenization?: Tokenization;
}

export interface JiwerScores { wer: number; mer: number; wil: number; wip: number; cer: number }
export type RougeScores = Record<RougeType, number>;

/** Per-item values, grouped like the corpus values. */
export interface ItemScores {
  id: string;
  coco: CocoScores;
  jiwer: JiwerScores;
  rouge: RougeScores;
  rouge_stemmed: RougeScores;
}

/** Corpus values plus per-item values. */
export interface CorpusScores {
  coco: CocoScores;
  jiwer: JiwerScores;
  rouge: RougeScores;
  rouge_stemmed: RougeScores;
  items: ItemScores[];
}

function rougeFs(references: readonly string[], prediction: string, stem: boolean): RougeScores {
  const r = rougeScore(references, prediction, stem);
  return { rouge1: r.rouge1.fmeasure, rouge2: r.rouge2.fmeasure, rougeL: r.rougeL.fmeasure, rougeLsum: r.rougeLsum.fmeasure };
}

function meanRouge(all: RougeScores[]): RougeScores {
  const out = { rouge1: 0, rouge2: 0, rougeL: 0, rougeLsum: 0 };
  for (const r of all) for (const k of ROUGE_TYPES) out[k] += r[k];
  for (const k of ROUGE_TYPES) out[k] /= all.length;
  return out;
}

/**
 * Score a corpus with every metric. Corpus BLEU, METEOR and CIDEr-D depend on all items, so
 * pass the whole corpus at once.
 * scoreCorpus([{ id: "1", prediction: "a dog", references: ["a dog"] }]).coco.Bleu_1 ≈ 1
 */
export function scoreCorpus(items: readonly ScoreItem[], opts: ScoreOptions = {}): CorpusScores {
  if (items.length === 0) throw new MetricsInputError("scoreCorpus needs at least one item");
  items.forEach((it, i) => {
    if (it.references.length === 0) throw new MetricsInputError(`item ${i} (${it.id}) has no references; give at least one`);
  });
  const coco = cocoScores(items, opts.tokenization ?? "ptb");
  const jw = jiwerMeasures(items.map((it) => it.references[0]), items.map((it) => it.prediction));
  const rouge = items.map((it) => rougeFs(it.references, it.prediction, false));
  const stemmed = items.map((it) => rougeFs(it.references, it.prediction, true));
  const pickJiwer = (j: JiwerScores): JiwerScores => ({ wer: j.wer, mer: j.mer, wil: j.wil, wip: j.wip, cer: j.cer });
  return {
    coco: coco.corpus,
    jiwer: pickJiwer(jw.corpus),
    rouge: meanRouge(rouge),
    rouge_stemmed: meanRouge(stemmed),
    items: items.map((it, i) => ({ id: it.id, coco: coco.items[i], jiwer: pickJiwer(jw.items[i]), rouge: rouge[i], rouge_stemmed: stemmed[i] })),
  };
}
