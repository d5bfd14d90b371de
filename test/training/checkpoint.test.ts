// HF-layout model folders (names, shapes, metadata, copied files; they load and caption like the
// source) and the training state file.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCheckpoint, readSafetensors } from "../../src/engine/checkpoint/index.js";
import { Captioner } from "../../src/generation/captioner.js";
import { loadTrainingState, saveModelFolder, saveTrainingState } from "../../src/training/checkpoint.js";
import { blipCaseDir } from "../helpers/golden.js";
import { trainableFrom } from "./fakes.js";

const source = blipCaseDir("base_like_32px");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "captioner-ckpt-"));
const images = fs.readdirSync(path.join(source, "images")).sort().slice(0, 4).map((f) => new Uint8Array(fs.readFileSync(path.join(source, "images", f))));

test("a saved folder has every source tensor (frozen bytes copied, trained values written), format pt, and the side files", () => {
  const out = tmp();
  const trained = trainableFrom(source, "text_decoder.");
  trained[0]!.values[0] = 42;
  saveModelFolder(source, out, trained);
  const saved = readSafetensors(path.join(out, "model.safetensors"));
  const original = openCheckpoint(source);
  assert.deepEqual(saved.metadata, { format: "pt" });
  assert.deepEqual([...saved.names()].sort(), [...original.names()].sort());
  assert.ok(!saved.names().includes("text_decoder.cls.predictions.decoder.bias"), "the tied alias is not stored");
  for (const name of original.names()) {
    const [a, b] = [saved.get(name)!, original.get(name)!];
    assert.deepEqual(a.shape, b.shape, name);
    assert.equal(a.dtype, b.dtype, name);
    if (name === trained[0]!.name) assert.equal(new Float32Array(Uint8Array.from(a.bytes).buffer)[0], 42);
    else assert.deepEqual(Buffer.from(a.bytes), Buffer.from(b.bytes), name);
  }
  for (const file of ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]) {
    assert.deepEqual(fs.readFileSync(path.join(out, file)), fs.readFileSync(path.join(source, file)), file);
  }
});

test("a saved folder loads with Captioner.load and captions exactly like its source", async () => {
  const out = tmp();
  saveModelFolder(source, out, trainableFrom(source, ""));
  const [a, b] = [await Captioner.load(source, { threads: 1 }), await Captioner.load(out, { threads: 1 })];
  try {
    assert.deepEqual(b.model.unusedWeights, []);
    const options = { maxNewTokens: 12 };
    assert.deepEqual(await b.caption(images, options), await a.caption(images, options));
  } finally {
    await a.release();
    await b.release();
  }
});

test("without generation_config.json in the source, one is written from the text config", () => {
  const src = tmp();
  for (const f of fs.readdirSync(source)) if (f !== "generation_config.json" && fs.statSync(path.join(source, f)).isFile()) fs.copyFileSync(path.join(source, f), path.join(src, f));
  const out = tmp();
  saveModelFolder(src, out, []);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, "generation_config.json"), "utf8")), { _from_model_config: true, bos_token_id: 200 });
});

test("a trained tensor whose shape differs from the source is refused", () => {
  const [p] = trainableFrom(source, "text_decoder.cls.predictions.bias");
  assert.throws(() => saveModelFolder(source, tmp(), [{ ...p!, shape: [2, 101] }]), /shape \[2, 101\].*stores \[202\]/);
});

test("the training state round-trips parameters, optimiser buffers and counters bit for bit", () => {
  const file = path.join(tmp(), "training", "state.safetensors");
  const params = trainableFrom(source, "text_decoder.bert.embeddings.");
  const buffers = new Map([["exp_avg.x", Float32Array.from([1.5, -0, NaN, 1e-40])]]);
  const progress = { step: 7, losses: [0.1 + 0.2, 1 / 3] };
  saveTrainingState(file, progress, params, { steps: 7, buffers });
  assert.ok(!fs.existsSync(`${file}.partial`));
  const back = loadTrainingState<typeof progress>(file);
  assert.deepEqual(back.progress, progress);
  assert.equal(back.optimizer.steps, 7);
  assert.deepEqual(Buffer.from(back.optimizer.buffers.get("exp_avg.x")!.buffer), Buffer.from(buffers.get("exp_avg.x")!.buffer));
  for (const p of params) assert.deepEqual(back.params.get(p.name), p.values, p.name);
});
