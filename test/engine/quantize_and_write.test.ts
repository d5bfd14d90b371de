// int8 lowering stays close to fp32; the safetensors writer round-trips through the reader; a
// random real-layout checkpoint written from the model code loads and captions.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeRandomBlip } from "../../src/models/blip/random.js";
import { readSafetensors } from "../../src/engine/checkpoint/index.js";
import { writeSafetensors } from "../../src/engine/checkpoint/safetensors_write.js";
import { Captioner } from "../../src/generation/captioner.js";
import { loadCaptionModel } from "../../src/models/index.js";
import { loadBlipConfig } from "../../src/models/blip/config.js";
import { blipCaseDir, readArray, readExpected } from "../helpers/golden.js";

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) ((dot += a[i]! * b[i]!), (na += a[i]! ** 2), (nb += b[i]! ** 2));
  return dot / Math.sqrt(na * nb);
}

test("int8 vision states and logits stay within cosine 0.999 of fp32 (and differ from them)", async () => {
  const dir = blipCaseDir("deep_48px_patch16");
  const expected = readExpected("deep_48px_patch16");
  const image = expected.images[0];
  const pixels = readArray(dir, image.pixel_values) as Float32Array;
  const reference = readArray(dir, image.vision_last_hidden_state) as Float32Array;
  const int8 = await loadCaptionModel(dir, { threads: 1, lowering: { fused: true, quantize: "int8" } });
  const features = await int8.encode(pixels, 1);
  const vision = features.imageEmbeds.data as Float32Array;
  assert.ok(cosine(vision, reference) > 0.999, `vision cosine ${cosine(vision, reference)}`);
  assert.ok(vision.some((v, i) => Math.abs(v - reference[i]!) > 1e-4), "int8 must actually quantise");
  const logits = await int8.stepModel(features).step([[expected.special_ids.dec_bos_token_id]]);
  assert.ok(cosine(logits, readArray(dir, image.first_step_logits) as Float32Array) > 0.999);
  await int8.release();
});

test("writeSafetensors round-trips names, dtypes, shapes and bytes", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "st-")), "x.safetensors");
  const a = Float32Array.from([1.5, -2, 3.25, 0, 7, 8]);
  const b = Int8Array.from([-128, 0, 127]);
  writeSafetensors(file, [
    { name: "a.weight", dtype: "float32", shape: [2, 3], bytes: () => new Uint8Array(a.buffer), byteLength: a.byteLength },
    { name: "b", dtype: "int8", shape: [3], bytes: () => new Uint8Array(b.buffer), byteLength: b.byteLength },
  ]);
  const ckpt = readSafetensors(file);
  assert.deepEqual(ckpt.metadata, { format: "pt" });
  assert.deepEqual(ckpt.names().sort(), ["a.weight", "b"]);
  assert.deepEqual(ckpt.get("a.weight")!.shape, [2, 3]);
  assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(ckpt.get("a.weight")!.bytes).buffer)), Array.from(a));
  assert.deepEqual(Array.from(new Int8Array(Uint8Array.from(ckpt.get("b")!.bytes).buffer)), Array.from(b));
});

test("a random checkpoint written from the model code has exactly the reference's tensor names and shapes, and captions", async () => {
  const source = blipCaseDir("odd_36px_patch8");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "random-blip-"));
  writeRandomBlip(dir, loadBlipConfig(source), 42);
  const written = readSafetensors(path.join(dir, "model.safetensors"));
  const shapes = readExpected("odd_36px_patch8").model.safetensors_shapes as Record<string, number[]>;
  assert.deepEqual(Object.fromEntries(written.names().sort().map((n) => [n, written.get(n)!.shape])), Object.fromEntries(Object.keys(shapes).sort().map((n) => [n, shapes[n]])));
  const captioner = await Captioner.load(dir, { threads: 1 });
  const [captions] = await captioner.caption([new Uint8Array(fs.readFileSync(path.join(source, "images/rgb_square.png")))]);
  assert.equal(captions![0]!.ids[0], captioner.model.special.bos);
  assert.equal(captions![0]!.ids.length, 20);
  await captioner.release();
});
