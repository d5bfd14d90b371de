// The fine-tuning loop on the golden model with a fake gradient step (a quadratic loss) and a fake
// optimiser: epochs and batches, accumulation, validation and the kept epoch, and resume after a
// crash ending exactly where an uninterrupted run ends.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readSafetensors } from "../../src/engine/checkpoint/index.js";
import { Captioner } from "../../src/generation/captioner.js";
import { loadTrainingState } from "../../src/training/checkpoint.js";
import { defaultSettings, type TrainingSettings } from "../../src/training/options.js";
import { fineTune, type FineTuneResult, stateFile, TrainingSetupError } from "../../src/training/train.js";
import { blipCaseDir } from "../helpers/golden.js";
import { smallSplit } from "../helpers/shapes.js";
import { fakeBackend, TokenMeanStep } from "./fakes.js";

const model = blipCaseDir("base_like_32px");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "captioner-train-"));

const train = smallSplit("train", 10);
const pairs = fs.readFileSync(path.join(train, "metadata.jsonl"), "utf8").trim().split("\n").reduce((n, l) => n + JSON.parse(l).captions.length, 0);
const validation = smallSplit("validation", 6);
const settings = (over: Partial<TrainingSettings> = {}): TrainingSettings => ({ ...defaultSettings(), epochs: 3, batchSize: 6, warmupSteps: 2, lr: 0.05, maxNewTokens: 8, saveStateSeconds: 0, threads: 1, ...over });
const finalParams = (out: string) => loadTrainingState(stateFile(out)).params;

test("an uninterrupted run: steps per epoch, losses, validation each epoch, the best epoch kept as a loadable folder", async () => {
  const out = tmp();
  const backend = fakeBackend();
  const epochs: string[] = [];
  const result = await fineTune({ model, train, validation, out, settings: settings(), backend, onMessage: (l) => epochs.push(l) });
  assert.equal(result.steps, 3 * Math.ceil(pairs / 6));
  assert.equal(backend.steps[0]!.runs.length, result.steps);
  assert.deepEqual(backend.steps[0]!.runs.slice(0, 4).map((b) => b.images), [6, 6, 6, pairs - 18]);
  assert.ok(backend.steps[0]!.runs.every((b) => b.imageEmbeds?.length === b.images * 17 * 32 && b.pixels === undefined && b.imageShape.join() === "17,32"));
  assert.equal(result.train_loss.length, 3);
  assert.equal(result.validation.epochs.length, 3);
  assert.ok(result.best_epoch >= 1 && result.best_epoch <= 3);
  assert.deepEqual(result.validation.after, result.validation.epochs[result.best_epoch - 1]);
  for (const key of ["CIDEr", "Bleu_4", "METEOR", "ROUGE_L"] as const) assert.equal(typeof result.validation.before[key], "number");
  assert.ok(epochs.some((l) => /^epoch 3: train loss/.test(l)));
  assert.ok(!fs.existsSync(path.join(out, "training", "epoch")), "the scratch epoch folder is removed");
  const kept = await Captioner.load(out, { threads: 1 });
  await kept.release();
  assert.equal(readSafetensors(path.join(out, "model.safetensors")).metadata?.format, "pt");
});

test("a run is repeatable from its seed, and another seed shuffles differently", async () => {
  const [a, b, c] = [tmp(), tmp(), tmp()];
  const runs = async (out: string, seed: number) => {
    const backend = fakeBackend();
    await fineTune({ model, train, validation, out, settings: settings({ epochs: 1, seed }), backend });
    return backend.steps[0]!.runs.map((r) => r.labels);
  };
  const first = await runs(a, 3);
  assert.deepEqual(await runs(b, 3), first);
  assert.notDeepEqual(await runs(c, 4), first);
});

test("killed mid-epoch and resumed: the same parameters, losses and scores as an uninterrupted run", async () => {
  const whole = tmp();
  const expected = await fineTune({ model, train, validation, out: whole, settings: settings(), backend: fakeBackend() });
  // Saved every step, or only at epoch ends (the resume then replays the epoch's first steps).
  for (const [crashAt, saveStateSeconds] of [[2, 0], [4, 0], [9, 0], [6, 1e9]] as const) {
    const out = tmp();
    await assert.rejects(fineTune({ model, train, validation, out, settings: settings({ saveStateSeconds }), backend: fakeBackend(undefined, crashAt) }), /simulated crash/);
    const resumed: FineTuneResult = await fineTune({ model, train, validation, out, settings: settings(), backend: fakeBackend(), resume: true });
    assert.equal(resumed.steps, expected.steps);
    assert.deepEqual(resumed.train_loss, expected.train_loss, `crash at run ${crashAt}`);
    assert.deepEqual(resumed.validation, expected.validation);
    assert.deepEqual(finalParams(out), finalParams(whole));
    assert.deepEqual(fs.readFileSync(path.join(out, "model.safetensors")), fs.readFileSync(path.join(whole, "model.safetensors")));
  }
});

test("micro-batches accumulate to the whole batch's gradient (token-weighted)", async () => {
  const [a, b] = [tmp(), tmp()];
  const prefix = "text_decoder.cls.predictions.bias";
  const whole = await fineTune({ model, train, validation, out: a, settings: settings({ epochs: 2 }), backend: fakeBackend(prefix, Infinity, TokenMeanStep) });
  const backend = fakeBackend(prefix, Infinity, TokenMeanStep);
  const parts = await fineTune({ model, train, validation, out: b, settings: settings({ epochs: 2, microBatchSize: 4 }), backend });
  assert.deepEqual(backend.steps[0]!.runs.slice(0, 3).map((r) => r.images), [4, 2, 4]);
  parts.train_loss.forEach((loss, i) => assert.ok(Math.abs(loss - whole.train_loss[i]!) <= 1e-6 * Math.abs(loss), `${loss} vs ${whole.train_loss[i]}`));
  const [pa, pw] = [finalParams(b).get(prefix)!, finalParams(a).get(prefix)!];
  pa.forEach((v, i) => assert.ok(Math.abs(v - pw[i]!) <= 1e-6, `${prefix}[${i}]: ${v} vs ${pw[i]}`));
});

test("--max-steps stops mid-epoch and validates the partial epoch; --train-vision feeds pixels", async () => {
  const backend = fakeBackend();
  const result = await fineTune({ model, train, validation, out: tmp(), settings: settings({ maxSteps: 5, trainVision: true }), backend });
  assert.equal(result.steps, 5);
  assert.equal(result.train_loss.length, 2);
  assert.equal(result.validation.epochs.length, 2);
  assert.ok(backend.steps[0]!.runs.every((r) => r.pixels?.length === r.images * 3 * 32 * 32 && r.imageEmbeds === undefined && r.imageShape.join() === "3,32,32"));
});

test("an out folder with a run in it needs --resume; a resume with other settings is refused", async () => {
  const out = tmp();
  await fineTune({ model, train, validation, out, settings: settings({ epochs: 1 }), backend: fakeBackend() });
  await assert.rejects(fineTune({ model, train, validation, out, settings: settings({ epochs: 1 }), backend: fakeBackend() }), (e: Error) => e instanceof TrainingSetupError && /--resume/.test(e.message));
  await assert.rejects(fineTune({ model, train, validation, out, settings: settings({ epochs: 1, lr: 0.1 }), backend: fakeBackend(), resume: true }), /other settings/);
  await assert.rejects(fineTune({ model, train, validation, out: model, settings: settings(), backend: fakeBackend() }), /model folder itself/);
});
