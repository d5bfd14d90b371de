// `captioner describe` as a user runs it: the --json contract of issue 12 and a folder run's
// summary and exit code (unreadable files reported, not fatal).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { goldenModel } from "../helpers/app.js";
import { repoRoot } from "../helpers/golden.js";

const run = promisify(execFile);
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const captioner = (args: string[]) => run(process.execPath, [cli, ...args], { env: { ...process.env, HF_HUB_OFFLINE: "1", CAPTIONER_LLM_BASE_URL: "" } });
const shape = path.resolve(repoRoot, "../shared/datasets/shapes/train/000000.png");

test("describe --json: {results: [{image, caption, tags, colors, description}]}", async () => {
  const { stdout } = await captioner(["describe", "--model", goldenModel, "--threads", "1", "--features", "caption,tags,colors,description", "--style", "short", "--json", shape]);
  const doc = JSON.parse(stdout);
  const [r] = doc.results;
  assert.deepEqual(Object.keys(r), ["image", "caption", "tags", "colors", "description"]);
  assert.equal(r.image, shape);
  for (const t of r.tags) assert.deepEqual(Object.keys(t), ["tag", "score", "source"]);
  assert.deepEqual(Object.keys(r.colors), ["palette", "foreground", "background", "accent", "grayscale"]);
  assert.deepEqual(Object.keys(r.colors.palette[0]), ["hex", "rgb", "share", "name", "family"]);
  assert.equal(r.colors.palette[0].family, "red");
  assert.equal(r.description.style, "short");
  assert.equal(r.description.llm.reason, "not_configured");
});

test("describe --dir: sidecars, a summary on stderr, exit 0 despite an unreadable file; bad flags are refused", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "describe-cli-"));
  fs.copyFileSync(shape, path.join(dir, "a.png"));
  fs.writeFileSync(path.join(dir, "b.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0])); // a PNG cut short
  const { stderr } = await captioner(["describe", "--model", goldenModel, "--threads", "1", "--dir", dir, "--write", "txt", "--prefix", "sks, "]);
  assert.match(stderr, /could not describe .*b\.png/);
  assert.match(stderr, /2 images in .*: 1 described, 0 skipped .*, 1 unreadable/);
  assert.match(fs.readFileSync(path.join(dir, "a.txt"), "utf8"), /^sks, /);

  await assert.rejects(captioner(["describe", "--model", goldenModel, "--dir", dir, "--write", "csv"]), /Allowed choices are txt, json, imagefolder/);
  await assert.rejects(captioner(["describe", "--model", goldenModel, "--features", "caption,faces", shape]), /unknown feature "faces"/);
  await assert.rejects(captioner(["describe", "--model", goldenModel, "--style", "haiku", shape]), /no description style "haiku".*alt-text, product, short, tags-json/);
  await assert.rejects(captioner(["describe", "--model", goldenModel, "--prefix", "x", shape]), /apply to --dir/);
});
