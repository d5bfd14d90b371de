// Caption metrics against ../shared/golden/metrics (values produced by pycocoevalcap, Meteor 1.5,
// jiwer 4.0 and rouge_score 0.1.2 — never by this code). Scores within 1e-6; integers, token lists,
// stats lines and strings exactly.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  bleu, ciderD, formatMeteorStats, jiwerMeasures, meteor, ptbTokenize, rougeL, rougeScore, rougeTokenize,
  scoreCorpus, ROUGE_TYPES,
} from "../../src/metrics/index.js";

const GOLDEN = new URL("../../../../shared/golden/metrics/", import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, GOLDEN), "utf8"));

interface Pair { id: string; prediction: string; references: string[] }
const cases: { corpora: { name: string; items: Pair[] }[] } = load("cases.json");
const expected = load("expected.json");
const TOL = 1e-6;

function near(actual: number, want: number, what: string): void {
  assert.ok(Math.abs(actual - want) <= TOL, `${what}: got ${actual}, expected ${want}`);
}

for (const corpus of cases.corpora) {
  const exp = expected.corpora[corpus.name];
  let ptbScores: ReturnType<typeof scoreCorpus> | undefined;
  const scoredPtb = () => (ptbScores ??= scoreCorpus(corpus.items));
  const inputs: Record<"ptb" | "plain", Pair[]> = { ptb: exp.ptb_tokenized, plain: exp.plain_inputs };

  describe(`metrics golden: corpus ${corpus.name}`, () => {
    it("PTB tokenization matches Stanford PTBTokenizer 3.4.1 + pycocoevalcap filter exactly", () => {
      corpus.items.forEach((item, k) => {
        assert.equal(ptbTokenize(item.prediction), exp.ptb_tokenized[k].prediction, `${item.id} prediction`);
        item.references.forEach((r, j) => assert.equal(ptbTokenize(r), exp.ptb_tokenized[k].references[j], `${item.id} reference ${j}`));
      });
    });

    for (const mode of ["ptb", "plain"] as const) {
      const want = exp.pycocoevalcap[mode];

      it(`${mode}: scoreCorpus gives the COCOEvalCap corpus and item values`, () => {
        // ptb: raw captions through our tokenizer; plain: the exact strings the generator fed.
        const scored = mode === "ptb" ? scoredPtb() : scoreCorpus(inputs.plain, { tokenization: "none" });
        const keys = { Bleu_1: "Bleu_1", Bleu_2: "Bleu_2", Bleu_3: "Bleu_3", Bleu_4: "Bleu_4", METEOR: "METEOR_noparaphrase", ROUGE_L: "ROUGE_L", CIDEr: "CIDEr" } as const;
        for (const [ours, theirs] of Object.entries(keys)) {
          near(scored.coco[ours as keyof typeof keys], want.corpus[theirs], `${mode} corpus ${theirs}`);
          want.items.forEach((w: Record<string, number>, k: number) => near(scored.items[k].coco[ours as keyof typeof keys], w[theirs], `${w.id} ${mode} ${theirs}`));
        }
      });

      it(`${mode}: BLEU counts per item and for the corpus`, () => {
        const b = bleu(inputs[mode]);
        want.items.forEach((w: { id: string; bleu_stats: unknown }, k: number) => assert.deepEqual(b.items[k].stats, w.bleu_stats, w.id));
        const { ratio, ...counts } = b.corpusStats;
        const { ratio: wantRatio, ...wantCounts } = want.bleu_corpus_stats;
        assert.deepEqual(counts, wantCounts);
        near(ratio, wantRatio, "bleu ratio");
      });

      it(`${mode}: ROUGE-L and CIDEr-D on the given strings`, () => {
        const c = ciderD(inputs[mode]);
        near(c.corpus, want.corpus.CIDEr, "CIDEr corpus");
        inputs[mode].forEach((it, k) => {
          near(rougeL(it.prediction, it.references), want.items[k].ROUGE_L, `${it.id} ROUGE_L`);
          near(c.items[k], want.items[k].CIDEr, `${it.id} CIDEr`);
        });
      });

      it(`${mode}: METEOR 1.5 (exact, stem, synonym) statistics, item scores and addStats corpus score`, () => {
        const m = meteor(inputs[mode]);
        near(m.corpus, want.corpus.METEOR_noparaphrase, "METEOR corpus");
        want.items.forEach((w: { id: string; meteor_stats: string; METEOR_noparaphrase: number }, k: number) => {
          assert.equal(formatMeteorStats(m.items[k].stats), w.meteor_stats, `${w.id} meteor_stats`);
          near(m.items[k].score, w.METEOR_noparaphrase, `${w.id} METEOR`);
        });
      });
    }

    it("jiwer: corpus and per-item WER/MER/WIL/WIP/CER with hit/S/D/I counts and word lists", () => {
      const j = jiwerMeasures(corpus.items.map((i) => i.references[0]), corpus.items.map((i) => i.prediction));
      const check = (ours: Record<string, unknown>, theirs: Record<string, unknown>, what: string) => {
        for (const [key, value] of Object.entries(theirs)) {
          if (key === "id") continue;
          if (typeof value === "number" && !Number.isInteger(value)) near(ours[key] as number, value, `${what} ${key}`);
          else assert.deepEqual(ours[key], value, `${what} ${key}`);
        }
      };
      check(j.corpus as unknown as Record<string, unknown>, exp.jiwer.corpus, "corpus");
      exp.jiwer.items.forEach((w: Record<string, unknown>, k: number) => check(j.items[k] as unknown as Record<string, unknown>, w, String(w.id)));
      const scored = scoredPtb();
      for (const key of ["wer", "mer", "wil", "wip", "cer"] as const) near(scored.jiwer[key], exp.jiwer.corpus[key], `scoreCorpus jiwer ${key}`);
    });

    for (const stem of [false, true]) {
      it(`rouge_score use_stemmer=${stem}: P/R/F per item, tokens, corpus mean F`, () => {
        const want = exp.rouge_score[stem ? "use_stemmer_true" : "use_stemmer_false"];
        corpus.items.forEach((item, k) => {
          const w = want.items[k];
          const r = rougeScore(item.references, item.prediction, stem);
          for (const t of ROUGE_TYPES) for (const f of ["precision", "recall", "fmeasure"] as const) near(r[t][f], w[t][f], `${item.id} ${t} ${f}`);
          assert.deepEqual(rougeTokenize(item.prediction, stem), w.prediction_tokens, `${item.id} prediction tokens`);
          assert.deepEqual(item.references.map((x) => rougeTokenize(x, stem)), w.references_tokens, `${item.id} reference tokens`);
        });
        const scored = scoredPtb();
        const means = stem ? scored.rouge_stemmed : scored.rouge;
        for (const t of ROUGE_TYPES) near(means[t], want.corpus_mean_fmeasure[t], `corpus mean ${t}`);
      });
    }
  });
}
