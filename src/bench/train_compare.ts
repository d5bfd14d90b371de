// Fine-tuning side by side with PyTorch (issue 10's target): the shapes recipe (the tiny golden BLIP,
// batch 32, AdamW 1e-3, 30 epochs) trained by `captioner train` and, when a Python with transformers
// is given, by ../shared/tools/reference-python/pytorch_shapes_finetune.py on the same machine, one
// after the other. Prints training seconds, whole-process wall and CPU seconds, peak RSS and the
// validation CIDEr-D of each run, and captioner's time as a fraction of PyTorch's.
//
// Usage: node dist/src/bench/train_compare.js [--train-vision] [--seeds 0,1,2] [--epochs 30]
//          [--python /usr/bin/python3 --pythonpath /tmp/hfsite] [--json]
// The Python side is a dev-time oracle (never a CI dependency): build it with
// ../shared/tools/reference-python/setup.sh.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const shared = path.resolve(here, "../../../../shared");
const cli = path.resolve(here, "../cli/main.js");

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const trainVision = process.argv.includes("--train-vision");
const epochs = Number(flag("--epochs") ?? 30);
const seeds = (flag("--seeds") ?? "0").split(",").map(Number);
const python = flag("--python");
const pythonPath = flag("--pythonpath");
const asJson = process.argv.includes("--json");

interface Run {
  side: "captioner" | "pytorch";
  seed?: number;
  /** Seconds of the training loop as the program reports it (no loading, caching or validation). */
  trainSeconds: number;
  /** The whole process: wall and CPU (user + system) seconds, peak RSS. */
  wallSeconds: number;
  cpuSeconds: number | null;
  peakRssMb: number | null;
  /** Validation CIDEr-D after the last epoch (and, for captioner, of the kept best epoch). */
  cider: number;
  bestCider?: number;
  loadAverage: number;
}

const TIME = "/usr/bin/time";
const hasTime = fs.existsSync(TIME);

/** Runs a command, returning its stdout and — through GNU time when present — its CPU seconds and peak RSS. */
function measured(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const started = process.hrtime.bigint();
  const loadAverage = os.loadavg()[0]!;
  const r = hasTime
    ? spawnSync(TIME, ["-f", "TIME %U %S %M", command, ...args], { encoding: "utf8", env, maxBuffer: 1 << 28 })
    : spawnSync(command, args, { encoding: "utf8", env, maxBuffer: 1 << 28 });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  const timeLine = r.stderr.split("\n").reverse().find((l) => l.startsWith("TIME "));
  const [user, sys, rssKb] = timeLine ? timeLine.slice(5).split(" ").map(Number) : [NaN, NaN, NaN];
  return {
    stdout: r.stdout,
    wallSeconds,
    cpuSeconds: timeLine ? user! + sys! : null,
    peakRssMb: timeLine ? rssKb! / 1024 : null,
    loadAverage: (loadAverage + os.loadavg()[0]!) / 2,
  };
}

function captionerRun(seed: number): Run {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "train-compare-"));
  try {
    const args = [cli, "train", "--model", path.join(shared, "golden/blip/base_like_32px"),
      "--train", path.join(shared, "datasets/shapes/train"), "--validation", path.join(shared, "datasets/shapes/validation"),
      "--out", out, "--epochs", String(epochs), "--seed", String(seed), "--json", ...(trainVision ? ["--train-vision"] : [])];
    const m = measured(process.execPath, args);
    const report = JSON.parse(m.stdout) as { seconds: number; validation: { after: { CIDEr: number }; epochs: { CIDEr: number }[] } };
    return {
      side: "captioner", seed, trainSeconds: report.seconds, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds,
      peakRssMb: m.peakRssMb, cider: report.validation.epochs.at(-1)!.CIDEr, bestCider: report.validation.after.CIDEr, loadAverage: m.loadAverage,
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function pytorchRun(): Run {
  const script = path.join(shared, "tools/reference-python/pytorch_shapes_finetune.py");
  const env = { ...process.env, ...(pythonPath ? { PYTHONPATH: pythonPath } : {}) };
  const m = measured(python!, [script, String(epochs), "1e-3", ...(trainVision ? ["--train-vision"] : [])], env);
  const report = JSON.parse(m.stdout.trim().split("\n").at(-1)!) as { train_seconds: number; test_CIDEr_after: number };
  return {
    side: "pytorch", trainSeconds: report.train_seconds, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds,
    peakRssMb: m.peakRssMb, cider: report.test_CIDEr_after, loadAverage: m.loadAverage,
  };
}

const runs: Run[] = [];
for (const seed of seeds) runs.push(captionerRun(seed));
if (python) runs.push(pytorchRun());

const ours = runs.filter((r) => r.side === "captioner");
const theirs = runs.find((r) => r.side === "pytorch");
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = {
  recipe: { epochs, batchSize: 32, lr: 1e-3, trainVision },
  runs,
  ratio: theirs ? mean(ours.map((r) => r.trainSeconds)) / theirs.trainSeconds : null,
};
if (asJson) console.log(JSON.stringify(summary, null, 2));
else {
  const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? "—" : x.toFixed(d));
  console.log(`shapes recipe, ${epochs} epochs, vision ${trainVision ? "trained" : "frozen"}`);
  console.log("| side | seed | train s | wall s | CPU s | peak RSS MB | CIDEr-D last | best | load avg |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of runs) {
    console.log(`| ${r.side} | ${r.seed ?? "—"} | ${f(r.trainSeconds)} | ${f(r.wallSeconds)} | ${f(r.cpuSeconds)} | ${f(r.peakRssMb, 0)} | ${f(r.cider, 3)} | ${f(r.bestCider, 3)} | ${f(r.loadAverage, 1)} |`);
  }
  if (summary.ratio !== null) console.log(`captioner's training time / PyTorch's: ${summary.ratio.toFixed(3)}`);
}
