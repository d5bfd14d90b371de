// Folder captioning for training data (issue 12) on the golden model: sidecars, prefix/suffix,
// skip and overwrite, an unreadable file, the imagefolder metadata.jsonl, and a stopped run that
// continues where it stopped.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { describeFiles, describeFolder, listImages } from "../../src/enrich/describe.js";
import { Captioner } from "../../src/generation/captioner.js";
import { goldenModel } from "../helpers/app.js";
import { repoRoot } from "../helpers/golden.js";

const shapes = path.resolve(repoRoot, "../shared/datasets/shapes/train");
let captioner: Captioner;
before(async () => {
  captioner = await Captioner.load(goldenModel, { threads: 1 });
});
after(async () => captioner.release());

/** A folder with three shapes images, one in a subfolder, and a file that is no image. */
function folder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "describe-"));
  for (const f of ["000000.png", "000001.png"]) fs.copyFileSync(path.join(shapes, f), path.join(dir, f));
  fs.mkdirSync(path.join(dir, "sub"));
  fs.copyFileSync(path.join(shapes, "000002.png"), path.join(dir, "sub", "000002.png"));
  fs.writeFileSync(path.join(dir, "broken.jpg"), "not a jpeg");
  fs.writeFileSync(path.join(dir, "notes.md"), "not an image either, by extension");
  return dir;
}

const FEATURES = ["caption", "tags", "colors"] as const;

test("txt sidecars with prefix and suffix; the unreadable file is reported and skipped", async () => {
  const dir = folder();
  const [alone] = await captioner.caption([fs.readFileSync(path.join(dir, "000000.png"))]);
  const summary = await describeFolder(captioner, dir, { features: [...FEATURES], write: "txt", prefix: "sks, ", suffix: ", photo" });
  assert.equal(summary.found, 3);
  assert.equal(summary.described, 2);
  assert.deepEqual(summary.failed.map((f) => path.basename(f.file)), ["broken.jpg"]);
  assert.match(summary.failed[0]!.error, /not a recognised image/);
  assert.equal(fs.readFileSync(path.join(dir, "000000.txt"), "utf8"), `sks, ${alone![0]!.text}, photo\n`);
  assert.ok(!fs.existsSync(path.join(dir, "sub", "000002.txt")), "not recursive by default");
  assert.ok(!fs.existsSync(path.join(dir, "broken.txt")));
});

test("skip, overwrite, --recursive, and a rerun continues where a stopped run ended", async () => {
  const dir = folder();
  await describeFolder(captioner, dir, { features: [...FEATURES], write: "txt" });
  fs.writeFileSync(path.join(dir, "000000.txt"), "hand-edited\n");
  fs.rmSync(path.join(dir, "000001.txt")); // as if the run had stopped before it
  const rerun = await describeFolder(captioner, dir, { features: [...FEATURES], write: "txt", recursive: true });
  assert.deepEqual([rerun.found, rerun.skipped, rerun.described, rerun.failed.length], [4, 1, 2, 1], "broken.jpg is tried again, and fails again");
  assert.equal(fs.readFileSync(path.join(dir, "000000.txt"), "utf8"), "hand-edited\n", "an existing sidecar is kept");
  assert.ok(fs.existsSync(path.join(dir, "000001.txt")) && fs.existsSync(path.join(dir, "sub", "000002.txt")));
  const overwrite = await describeFolder(captioner, dir, { features: [...FEATURES], write: "txt", recursive: true, overwrite: true });
  assert.equal(overwrite.described, 3);
  assert.notEqual(fs.readFileSync(path.join(dir, "000000.txt"), "utf8"), "hand-edited\n");
});

test("json sidecars hold every feature; the shapes' colours are right", async () => {
  const dir = folder();
  await describeFolder(captioner, dir, { features: [...FEATURES], write: "json", prefix: "sks " });
  const doc = JSON.parse(fs.readFileSync(path.join(dir, "000000.json"), "utf8"));
  assert.equal(doc.image, "000000.png");
  assert.equal(doc.text, `sks ${doc.caption}`);
  assert.equal(doc.colors.background.family, "red");
  assert.equal(doc.colors.foreground.family, "blue");
  assert.ok(doc.tags.some((t: { tag: string; source: string }) => t.tag === "blue" && t.source === "color"));
});

test("imagefolder: one metadata.jsonl (file_name, text, features), continued after a cut-off line", async () => {
  const dir = folder();
  const first = await describeFolder(captioner, dir, { features: [...FEATURES], write: "imagefolder", recursive: true, prefix: "sks, " });
  assert.equal(first.described, 3);
  const metadata = path.join(dir, "metadata.jsonl");
  const lines = fs.readFileSync(metadata, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.file_name), ["000000.png", "000001.png", "sub/000002.png"]);
  for (const l of lines) assert.ok(l.text.startsWith("sks, ") && l.colors && l.tags && l.caption);

  // A run stopped mid-write: the last line is cut off, and the second image's line is missing.
  const text = fs.readFileSync(metadata, "utf8").split("\n");
  fs.writeFileSync(metadata, `${text[0]}\n${text[2]!.slice(0, 20)}`);
  const rerun = await describeFolder(captioner, dir, { features: [...FEATURES], write: "imagefolder", recursive: true, prefix: "sks, " });
  assert.deepEqual([rerun.skipped, rerun.described, rerun.failed.length], [1, 2, 1]);
  const after = fs.readFileSync(metadata, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(after.map((l) => l.file_name).sort(), ["000000.png", "000001.png", "sub/000002.png"]);
  assert.deepEqual(after.find((l) => l.file_name === "000001.png"), lines[1]);
});

test("describeFiles: results in order, colours without captioning, errors per file", async () => {
  const dir = folder();
  const files = [path.join(dir, "000000.png"), path.join(dir, "missing.png"), ...(await listImages(dir, true)).slice(1)];
  const outcomes = await describeFiles(captioner, files, { features: ["colors"], batchSize: 2 });
  assert.deepEqual(outcomes.map((o) => path.basename(o.file)), files.map((f) => path.basename(f)));
  assert.ok("error" in outcomes[1]! && /missing\.png|ENOENT/.test(outcomes[1].error));
  const ok = outcomes[0]!;
  assert.ok("result" in ok);
  assert.deepEqual(Object.keys(ok.result).sort(), ["colors", "image"]);
});
