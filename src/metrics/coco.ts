// The COCOEvalCap pipeline: tokenize predictions and references (PTB by default), then
// BLEU-1..4, METEOR (no paraphrase module), ROUGE-L and CIDEr-D over the whole corpus.
import { bleu } from "./bleu.js";
import { ciderD } from "./cider.js";
import { meteor } from "./meteor/scorer.js";
import { ptbTokenize } from "./ptb_tokenizer.js";
import { rougeL } from "./rouge_l.js";
import { plainNormalize } from "./text.js";

/** How captions are prepared before the COCO scorers: as COCOEvalCap (ptb), lower-case + collapsed spaces (plain), or as given (none). */
export type Tokenization = "ptb" | "plain" | "none";

export const COCO_METRICS = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"] as const;
export type CocoMetric = (typeof COCO_METRICS)[number];
export type CocoScores = Record<CocoMetric, number>;

/** A caption to score with its references. */
export interface CaptionPair {
  prediction: string;
  references: readonly string[];
}

const PREPARE: Record<Tokenization, (s: string) => string> = {
  ptb: ptbTokenize,
  plain: plainNormalize,
  none: (s) => s,
};

/** COCO caption metrics of one corpus. cocoScores(items).corpus.CIDEr is the corpus CIDEr-D. */
export function cocoScores(items: readonly CaptionPair[], tokenization: Tokenization = "ptb"): { corpus: CocoScores; items: CocoScores[] } {
  const prepare = PREPARE[tokenization];
  const prepared = items.map((it) => ({ prediction: prepare(it.prediction), references: it.references.map(prepare) }));
  const b = bleu(prepared);
  const m = meteor(prepared);
  const c = ciderD(prepared);
  const r = prepared.map((it) => rougeL(it.prediction, it.references));
  const perItem = prepared.map((_, i) => ({
    Bleu_1: b.items[i].scores[0], Bleu_2: b.items[i].scores[1], Bleu_3: b.items[i].scores[2], Bleu_4: b.items[i].scores[3],
    METEOR: m.items[i].score, ROUGE_L: r[i], CIDEr: c.items[i],
  }));
  let rougeSum = 0;
  for (const x of r) rougeSum += x;
  const corpus = {
    Bleu_1: b.corpus[0], Bleu_2: b.corpus[1], Bleu_3: b.corpus[2], Bleu_4: b.corpus[3],
    METEOR: m.corpus, ROUGE_L: rougeSum / r.length, CIDEr: c.corpus,
  };
  return { corpus, items: perItem };
}
