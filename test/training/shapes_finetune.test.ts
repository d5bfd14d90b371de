// The short version of issue 10's target, run by CI: the golden tiny BLIP (random weights) fine-tuned
// on shapes/train with the real training backend for a few epochs must caption held-out shapes far
// better than before, and the saved folder must score the same through `evaluate`.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { evaluate } from "../../src/eval/evaluate.js";
import { Captioner } from "../../src/generation/captioner.js";
import { openDataset } from "../../src/datasets/imagefolder.js";
import { TRAINING_BACKENDS } from "../../src/training/backends.js";
import { defaultSettings } from "../../src/training/options.js";
import { fineTune } from "../../src/training/train.js";
import { blipCaseDir, goldenRoot } from "../helpers/golden.js";

const backend = TRAINING_BACKENDS.blip;
const shapes = path.join(goldenRoot, "../datasets/shapes");

test("6 epochs of the recipe raise validation CIDEr-D from ≈ 0 to ≥ 1, and the output scores the same in evaluate", async (t) => {
  assert.ok(backend, "BLIP trains on the engine");
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-shapes-"));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const result = await fineTune({
    model: blipCaseDir("base_like_32px"),
    train: path.join(shapes, "train"),
    validation: path.join(shapes, "validation"),
    out,
    settings: { ...defaultSettings(), epochs: 6 },
    backend: backend!,
  });
  assert.ok(result.validation.before.CIDEr < 0.05, `before: ${result.validation.before.CIDEr}`);
  assert.ok(result.validation.after.CIDEr >= 1, `after: ${result.validation.after.CIDEr}`);
  const captioner = await Captioner.load(out);
  try {
    const scored = await evaluate(captioner, openDataset(path.join(shapes, "validation")).items, { caption: { maxNewTokens: 47, numBeams: 1 } });
    assert.equal(scored.coco.CIDEr, result.validation.after.CIDEr);
  } finally {
    await captioner.release();
  }
});
