// `captioner metrics` end to end: spawn the built CLI on the golden cases file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const CASES = fileURLToPath(new URL("../../../../shared/golden/metrics/cases.json", import.meta.url));
const expected = JSON.parse(readFileSync(new URL("../../../../shared/golden/metrics/expected.json", import.meta.url), "utf8"));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, "metrics", ...args], { encoding: "utf8" });

describe("captioner metrics (CLI)", () => {
  it("--json prints one document with coco/jiwer/rouge/rouge_stemmed/items per corpus", () => {
    const r = run(CASES, "--json");
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(doc), ["corpora"]);
    assert.deepEqual(Object.keys(doc.corpora), ["main", "coco_fakecap", "tiny_a", "shared_ngrams", "single_image", "duplicates"]);
    const main = doc.corpora.main;
    assert.deepEqual(Object.keys(main.coco), ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"]);
    assert.deepEqual(Object.keys(main.jiwer), ["wer", "mer", "wil", "wip", "cer"]);
    assert.deepEqual(Object.keys(main.rouge), ["rouge1", "rouge2", "rougeL", "rougeLsum"]);
    assert.deepEqual(Object.keys(main.rouge_stemmed), ["rouge1", "rouge2", "rougeL", "rougeLsum"]);
    assert.equal(main.items.length, 108);
    assert.equal(main.items[0].id, "m-001");
    const want = expected.corpora.main;
    assert.ok(Math.abs(main.coco.CIDEr - want.pycocoevalcap.ptb.corpus.CIDEr) < 1e-6);
    assert.ok(Math.abs(main.coco.METEOR - want.pycocoevalcap.ptb.corpus.METEOR_noparaphrase) < 1e-6);
    assert.ok(Math.abs(main.jiwer.wer - want.jiwer.corpus.wer) < 1e-6);
    assert.ok(Math.abs(main.rouge_stemmed.rougeLsum - want.rouge_score.use_stemmer_true.corpus_mean_fmeasure.rougeLsum) < 1e-6);
    assert.ok(Math.abs(main.items[4].coco.Bleu_4 - want.pycocoevalcap.ptb.items[4].Bleu_4) < 1e-6);
    assert.equal(doc.corpora.single_image.coco.CIDEr, 0);
  });

  it("without --json prints a readable table", () => {
    const r = run(CASES);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^main \(108 items\)$/m);
    assert.match(r.stdout, /CIDEr-D\s+3\.0782/);
  });

  it("bad input: clear error on stderr, non-zero exit, nothing on stdout", () => {
    const dir = mkdtempSync(join(tmpdir(), "metrics-cli-"));
    const notJson = join(dir, "bad.json");
    writeFileSync(notJson, "{not json");
    let r = run(notJson, "--json");
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^captioner: .*is not valid JSON/);
    const wrong = join(dir, "wrong.json");
    writeFileSync(wrong, JSON.stringify({ format: "captioner-metrics-cases/1", corpora: [{ name: "x", items: [{ id: "1", prediction: "a" }] }] }));
    r = run(wrong, "--json");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /corpora\[0\]\.items\[0\]\.references must be a non-empty array of strings/);
    r = run(join(dir, "missing.json"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^captioner: cannot read cases file/);
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line, no stack trace");
  });
});
