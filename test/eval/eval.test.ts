// `captioner eval` as a user runs it on shapes/validation with the tiny random golden model: its
// predictions are `captioner caption`'s, its metrics are scoreCorpus' on them, and the report is one page.
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { Captioner } from "../../src/generation/captioner.js";
import { evaluate, type EvalProgress, type EvaluationResult } from "../../src/eval/evaluate.js";
import { scoreCorpus } from "../../src/metrics/index.js";
import { escapeHtml, renderReport } from "../../src/eval/report.js";
import { blipCaseDir, repoRoot } from "../helpers/golden.js";

const run = promisify(execFile);
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const captioner = (args: string[]) => run(process.execPath, [cli, ...args], { env: { ...process.env, HF_HUB_OFFLINE: "1" } });

const model = blipCaseDir("base_like_32px");
const shapes = path.resolve(repoRoot, "../shared/datasets/shapes");
const validation = path.join(shapes, "validation");
/** The first n metadata rows, read straight from the file. */
const metadata = (n: number): { file_name: string; captions: string[] }[] =>
  fs.readFileSync(path.join(validation, "metadata.jsonl"), "utf8").split("\n").slice(0, n).map((l) => JSON.parse(l));

/** JSON round trip, so numbers compare as the CLI printed them. */
const viaJson = <T>(x: T): T => JSON.parse(JSON.stringify(x));

describe("captioner eval", () => {
  test("--json --limit 16: captions equal `caption`'s, metrics equal scoreCorpus'", async () => {
    const { stdout, stderr } = await captioner(["eval", "--model", model, "--dataset", validation, "--limit", "16", "--threads", "1", "--json"]);
    const doc = JSON.parse(stdout) as EvaluationResult;
    assert.equal(doc.n, 16);
    assert.ok(doc.images_per_s > 0 && Number.isFinite(doc.images_per_s));
    assert.deepEqual(Object.keys(doc), ["n", "images_per_s", "coco", "jiwer", "rouge", "rouge_stemmed", "items"]);
    assert.doesNotMatch(stderr, /img\/s/, "no progress bar when stderr is not a terminal");

    const rows = metadata(16);
    const files = rows.map((r) => path.join(validation, r.file_name));
    const captioned = JSON.parse((await captioner(["caption", "--model", model, "--threads", "1", "--json", ...files])).stdout);
    const predictions = captioned.results.map((r: { captions: { text: string }[] }) => r.captions[0]!.text);
    assert.deepEqual(doc.items.map((it) => it.id), rows.map((r) => r.file_name));
    assert.deepEqual(doc.items.map((it) => it.prediction), predictions);
    assert.deepEqual(doc.items.map((it) => it.references), rows.map((r) => r.captions));

    const expected = viaJson(scoreCorpus(rows.map((r, i) => ({ id: r.file_name, prediction: predictions[i], references: r.captions }))));
    for (const key of ["coco", "jiwer", "rouge", "rouge_stemmed"] as const) assert.deepEqual(doc[key], expected[key], key);
    doc.items.forEach((it, i) => assert.deepEqual({ ...it, prediction: undefined, references: undefined }, { ...expected.items[i], prediction: undefined, references: undefined }));
  });

  test("a dataset root defaults to validation; tables and --report", async () => {
    const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "captioner-eval-")), "report.html");
    const { stdout, stderr } = await captioner(["eval", "--model", model, "--dataset", shapes, "--limit", "6", "--batch-size", "4", "--report", report]);
    assert.match(stderr, /using split "validation"/);
    assert.match(stdout, /^validation \(6 items\)$/m);
    assert.match(stdout, /CIDEr-D\s+\d\.\d{4}/);
    assert.match(stdout, /images\/s\s+\d+\.\d\d/);
    const html = fs.readFileSync(report, "utf8");
    assert.match(html, /<svg[^>]*class="histogram"/);
    assert.equal(html.match(/<img src="data:image\/png;base64,/g)?.length, 6);
    for (const row of metadata(6)) {
      assert.ok(html.includes(`>${row.file_name}<`), row.file_name);
      for (const ref of row.captions) assert.ok(html.includes(escapeHtml(ref)), ref);
    }
    assert.doesNotMatch(html, /<link|<script|src="http|url\(/, "no external assets");
  });

  test("bad dataset paths and splits fail with a clear message", async () => {
    const missing = captioner(["eval", "--model", model, "--dataset", "/nonexistent/shapes", "--json"]);
    await assert.rejects(missing, (e: { code: number; stderr: string; stdout: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /captioner: dataset folder \/nonexistent\/shapes does not exist/);
      assert.equal(e.stdout, "");
      return true;
    });
    await assert.rejects(captioner(["eval", "--model", model, "--dataset", shapes, "--split", "test"]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /has no split "test"; its splits are: train, validation/);
      return true;
    });
    await assert.rejects(captioner(["eval", "--model", model, "--dataset", validation, "--report", "/nonexistent/report.html"]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /cannot write report \/nonexistent\/report\.html: folder \/nonexistent does not exist/);
      return true;
    });
  });
});

describe("evaluate() and the report", () => {
  test("batches report progress; predictions match one call per image", async () => {
    const blip = await Captioner.load(model, { threads: 1 });
    try {
      const items = metadata(7).map((r) => ({ id: r.file_name, file: path.join(validation, r.file_name), references: r.captions }));
      const seen: EvalProgress[] = [];
      const result = await evaluate(blip, items, { batchSize: 3, onProgress: (p) => seen.push(p) });
      assert.deepEqual(seen.map((p) => [p.done, p.total]), [[3, 7], [6, 7], [7, 7]]);
      assert.equal(seen.at(-1)!.etaMs, 0);
      const alone = await blip.caption([fs.readFileSync(items[4]!.file)]);
      assert.equal(result.items[4]!.prediction, alone[0]![0]!.text);
      await assert.rejects(evaluate(blip, items, { batchSize: 0 }), /batch size must be a whole number ≥ 1/);
    } finally {
      await blip.release();
    }
  });

  test("every text is escaped", () => {
    const nasty = `<script>alert("x")</script> & 'q'`;
    const scores = scoreCorpus([{ id: nasty, prediction: nasty, references: [nasty] }]);
    const result: EvaluationResult = { n: 1, images_per_s: 1, ...scores, items: [{ ...scores.items[0]!, prediction: nasty, references: [nasty] }] };
    const html = renderReport(result, { model: nasty, dataset: nasty, settings: { prompt: nasty } }, [undefined]);
    assert.doesNotMatch(html, /<script/);
    assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"));
    assert.match(html, /no preview/);
  });
});
