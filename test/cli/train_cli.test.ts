// `captioner train` as a user runs it: flag and data errors (one clear line, exit code 1), the
// --json document, and --resume after the process was killed with SIGKILL. The training table of
// these processes holds the fake gradient step (test/training/fakes.ts); the real one is the engine's.
import test from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { blipCaseDir, repoRoot } from "../helpers/golden.js";
import { smallSplit } from "../helpers/shapes.js";

const run = promisify(execFile);
const realCli = path.join(repoRoot, "dist/src/cli/main.js");
const fakeCli = path.join(repoRoot, "dist/test/cli/fake_train_main.js");
const env = { ...process.env, HF_HUB_OFFLINE: "1" };
const model = blipCaseDir("base_like_32px");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "captioner-train-cli-"));

const train = smallSplit("train", 8);
const validation = smallSplit("validation", 4);
const base = (out: string) => ["train", "--model", model, "--train", train, "--validation", validation, "--out", out];

async function fails(cli: string, args: string[], message: RegExp): Promise<void> {
  await assert.rejects(run(process.execPath, [cli, ...args], { env }), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 1, e.stderr);
    assert.match(e.stderr, message);
    return true;
  });
}

test("bad flags: one line naming the flag, exit code 1", async () => {
  const out = tmp();
  await fails(realCli, ["train", "--model", model, "--train", train, "--validation", validation], /required option '--out <folder>' not specified/);
  await fails(realCli, [...base(out), "--epochs", "0"], /--epochs.*expected a whole number ≥ 1, got "0"/);
  await fails(realCli, [...base(out), "--batch-size", "many"], /--batch-size.*expected a whole number ≥ 1/);
  await fails(realCli, [...base(out), "--lr", "0"], /--lr.*expected a number > 0/);
  await fails(realCli, [...base(out), "--label-smoothing", "1.5"], /--label-smoothing.*expected a number ≤ 1/);
  await fails(realCli, [...base(out), "--warmup", "3"], /unknown option '--warmup'/);
});

test("missing or empty datasets and models are reported before any training", async () => {
  const out = tmp();
  const empty = path.join(tmp(), "empty");
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, "metadata.jsonl"), "\n");
  await fails(fakeCli, ["train", "--model", model, "--train", "/nonexistent/train", "--validation", validation, "--out", out], /^captioner: dataset folder \/nonexistent\/train does not exist/);
  await fails(fakeCli, ["train", "--model", model, "--train", train, "--validation", empty, "--out", out], /metadata\.jsonl lists no images/);
  await fails(fakeCli, ["train", "--model", path.join(tmp(), "nothing"), "--train", train, "--validation", validation, "--out", out], /^captioner: /);
});

test("a model type without a training backend is a clear error", async () => {
  const other = tmp();
  for (const f of fs.readdirSync(model)) if (fs.statSync(path.join(model, f)).isFile()) fs.copyFileSync(path.join(model, f), path.join(other, f));
  const config = JSON.parse(fs.readFileSync(path.join(model, "config.json"), "utf8"));
  fs.writeFileSync(path.join(other, "config.json"), JSON.stringify({ ...config, model_type: "untrainable_family" }));
  await fails(realCli, ["train", "--model", other, "--train", train, "--validation", validation, "--out", tmp()], /model_type "untrainable_family" cannot be trained yet/);
});

test("--json prints the contract's document", async () => {
  const out = tmp();
  const { stdout } = await run(process.execPath, [fakeCli, ...base(out), "--epochs", "2", "--batch-size", "4", "--lr", "0.01", "--seed", "5", "--json"], { env });
  const doc = JSON.parse(stdout);
  assert.equal(doc.out, out);
  const pairs = fs.readFileSync(path.join(train, "metadata.jsonl"), "utf8").trim().split("\n").reduce((n, l) => n + JSON.parse(l).captions.length, 0);
  assert.equal(doc.steps, 2 * Math.ceil(pairs / 4));
  assert.equal(doc.train_loss.length, 2);
  assert.equal(typeof doc.seconds, "number");
  for (const when of ["before", "after"]) for (const key of ["CIDEr", "Bleu_4", "METEOR", "ROUGE_L"]) assert.equal(typeof doc.validation[when][key], "number", `${when}.${key}`);
  assert.ok(fs.existsSync(path.join(out, "model.safetensors")));
});

test("killed with SIGKILL mid-run, --resume ends where an uninterrupted run ends", async () => {
  const args = (out: string) => [fakeCli, ...base(out), "--epochs", "3", "--batch-size", "3", "--lr", "0.01", "--json"];
  const whole = tmp();
  const expected = JSON.parse((await run(process.execPath, args(whole), { env })).stdout);
  const out = tmp();
  // Killed a little after the first state was saved: mid-run, possibly mid-write.
  const child = spawn(process.execPath, args(out), { env, stdio: "ignore" });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const state = path.join(out, "training", "state.safetensors");
  while (!fs.existsSync(state)) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 150));
  child.kill("SIGKILL");
  await exited;
  assert.equal(child.signalCode, "SIGKILL", "the run ended before it could be killed");
  const resumed = JSON.parse((await run(process.execPath, [...args(out), "--resume"], { env })).stdout);
  assert.equal(resumed.steps, expected.steps);
  assert.deepEqual(resumed.train_loss, expected.train_loss);
  assert.deepEqual(resumed.validation, expected.validation);
  assert.deepEqual(fs.readFileSync(path.join(out, "model.safetensors")), fs.readFileSync(path.join(whole, "model.safetensors")));
});
