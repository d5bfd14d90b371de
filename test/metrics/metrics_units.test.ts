// Behaviour the golden corpora do not pin down: input validation, library edge cases, and
// hand-checkable metric identities.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bleu, ciderD, editCounts, jiwerMeasures, meteorStats, MetricsInputError, porterStem, ptbTokenize, rougeL,
  scoreCorpus, snowballStem, validateCases,
} from "../../src/metrics/index.js";

describe("metrics: validation", () => {
  it("rejects malformed cases files with the offending path", () => {
    assert.throws(() => validateCases({ format: "other" }), (e: Error) => e instanceof MetricsInputError && /format must be "captioner-metrics-cases\/1"/.test(e.message));
    assert.throws(() => validateCases({ format: "captioner-metrics-cases/1", corpora: [] }), /corpora must be a non-empty array/);
    const bad = { format: "captioner-metrics-cases/1", corpora: [{ name: "a", items: [{ id: "1", prediction: "x", references: [] }] }] };
    assert.throws(() => validateCases(bad), /corpora\[0\]\.items\[0\]\.references must be a non-empty array of strings/);
    const dup = { format: "captioner-metrics-cases/1", corpora: [{ name: "a", items: [{ id: "1", prediction: "x", references: ["x"] }] }, { name: "a", items: [{ id: "1", prediction: "x", references: ["x"] }] }] };
    assert.throws(() => validateCases(dup), /"a" is used twice/);
  });

  it("scoreCorpus refuses an empty corpus and items without references", () => {
    assert.throws(() => scoreCorpus([]), MetricsInputError);
    assert.throws(() => scoreCorpus([{ id: "x", prediction: "a", references: [] }]), /has no references/);
  });
});

describe("metrics: identities", () => {
  it("an identical caption scores BLEU ~1, ROUGE-L 1, METEOR 1", () => {
    const b = bleu([{ prediction: "a dog runs on the grass", references: ["a dog runs on the grass"] }]);
    for (const s of b.corpus) assert.ok(Math.abs(s - 1) < 1e-8);
    assert.equal(rougeL("a dog runs", ["a dog runs"]), 1);
    assert.equal(meteorStats("a dog runs on the grass", ["a dog runs on the grass"]).score, 1);
  });

  it("CIDEr-D is 0 for a one-image corpus and 10 for an identical single reference in a larger one", () => {
    assert.equal(ciderD([{ prediction: "a cat", references: ["a cat"] }]).corpus, 0);
    const c = ciderD([{ prediction: "a red cat sits", references: ["a red cat sits"] }, { prediction: "x", references: ["a blue car"] }]);
    assert.ok(Math.abs(c.items[0] - 10) < 1e-9);
  });

  it("jiwer counts: one substitution, insertion at the end, empty hypothesis", () => {
    assert.deepEqual(editCounts(["a", "b", "c"], ["a", "x", "c"]), { hits: 2, substitutions: 1, deletions: 0, insertions: 0 });
    assert.deepEqual(editCounts(["a"], ["a", "b"]), { hits: 1, substitutions: 0, deletions: 0, insertions: 1 });
    const j = jiwerMeasures(["a b"], [""]);
    assert.equal(j.corpus.wer, 1);
    assert.equal(j.corpus.deletions, 2);
  });

  it("jiwer 4's empty references (its README and test suite): silence against silence is perfect, words against silence are insertions", () => {
    const both = jiwerMeasures([""], [""]).corpus;
    assert.deepEqual([both.wer, both.mer, both.wil, both.wip, both.cer], [0, 0, 0, 1, 0]);
    assert.equal(jiwerMeasures([""], ["silence"]).corpus.wer, 1);
    assert.equal(jiwerMeasures([""], ["peaceful silence"]).corpus.wer, 2);
    assert.equal(jiwerMeasures([""], ["now defined behaviour"]).corpus.insertions, 3);
    assert.equal(jiwerMeasures([""], ["a"]).corpus.cer, 1);
    assert.equal(jiwerMeasures([""], ["abcde"]).corpus.cer, 5);
  });

  it("stemmers: NLTK Porter and Snowball English on textbook words", () => {
    assert.equal(porterStem("caresses"), "caress");
    assert.equal(porterStem("ponies"), "poni");
    assert.equal(porterStem("running"), "run");
    assert.equal(snowballStem("running"), "run");
    assert.equal(snowballStem("dying"), "die");
    assert.equal(snowballStem("generously"), "generous");
    assert.equal(snowballStem("caresses"), "caress");
  });

  it("PTB tokenizer keeps hyphenated words and splits clitics", () => {
    assert.equal(ptbTokenize("They're gonna e-mail James' 10-year-old son."), "they 're gon na e-mail james 10-year-old son");
  });
});
