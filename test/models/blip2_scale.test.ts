// The scale path of BLIP-2 on the tiny golden model: a checkpoint resharded as save_pretrained does
// (index + shards) loads to transformers' numbers, and int8 weights quantised at load time and
// written to external data (what a 2.7B model needs past protobuf's 2 GB) run exactly like inline ones.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCheckpoint, readSafetensors } from "../../src/engine/checkpoint/index.js";
import { writeSafetensorsCheckpoint } from "../../src/engine/checkpoint/safetensors_write.js";
import { ExternalDataFile } from "../../src/engine/onnx/external_data.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";
import { Weights } from "../../src/engine/weights.js";
import { loadBlip2Config } from "../../src/models/blip2/config.js";
import { Blip2Network } from "../../src/models/blip2/load.js";
import { Blip2ForConditionalGeneration, io } from "../../src/models/blip2/model.js";
import { assertClose, blip2CaseDir, readArray, readBlip2Expected } from "../helpers/golden.js";

const caseName = "opt_28px_q8";
const golden = blip2CaseDir(caseName);
const expected = readBlip2Expected(caseName);
const image = expected.images[0];
const array = (ref: unknown) => readArray(golden, ref as Parameters<typeof readArray>[1]) as Float32Array;

/** The golden checkpoint rewritten in shards of at most `maxShardBytes`, with the other files copied. */
function resharded(maxShardBytes: number): { folder: string; files: string[] } {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-blip2-shards-"));
  for (const f of fs.readdirSync(golden)) if (f !== "model.safetensors" && fs.statSync(path.join(golden, f)).isFile()) fs.copyFileSync(path.join(golden, f), path.join(folder, f));
  const source = readSafetensors(path.join(golden, "model.safetensors"));
  const tensors = source.names().map((name) => {
    const e = source.get(name)!;
    return { name, dtype: e.dtype, shape: e.shape, bytes: () => e.bytes, byteLength: e.bytes.byteLength };
  });
  return { folder, files: writeSafetensorsCheckpoint(folder, tensors, maxShardBytes) };
}

test("a sharded checkpoint (index + shards of ≤ max bytes) loads to transformers' numbers, in fp32 and int8", async () => {
  const total = fs.statSync(path.join(golden, "model.safetensors")).size;
  const { folder, files } = resharded(Math.ceil(total / 4));
  try {
    const shards = files.filter((f) => f.endsWith(".safetensors"));
    assert.ok(shards.length >= 4, `expected ≥ 4 shards, got ${files.join(", ")}`);
    assert.equal(shards[0], `model-00001-of-${String(shards.length).padStart(5, "0")}.safetensors`);
    for (const s of shards) assert.ok(fs.statSync(path.join(folder, s)).size <= Math.ceil(total / 4) + 64 * 1024, `${s} is within the shard size (+ header)`);
    const index = JSON.parse(fs.readFileSync(path.join(folder, "model.safetensors.index.json"), "utf8"));
    assert.deepEqual(Object.keys(index.weight_map).sort(), readSafetensors(path.join(golden, "model.safetensors")).names().sort());
    assert.deepEqual(openCheckpoint(folder).files.map((f) => path.basename(f)).sort(), shards.sort());

    const pixels = array(image.pixel_values);
    const fp32 = await Blip2Network.load(folder, { threads: 1 });
    const features = await fp32.encode(pixels, 1);
    assertClose(features.languageProjection.data as Float32Array, array(image.language_projection), 1e-4, "language_projection");
    assertClose(await fp32.stepModel(features).step([[fp32.special.bos]]), array(image.first_step_logits), 1e-4, "first_step_logits");
    await fp32.release();

    // int8 through the load path (temporary external-data file, removed after the sessions are made).
    const tmpBefore = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("captioner-weights-")).length;
    const int8 = await Blip2Network.load(folder, { threads: 1, lowering: { fused: true, quantize: "int8" } });
    assert.equal(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("captioner-weights-")).length, tmpBefore, "the load's external-data folder is removed");
    const q = await int8.encode(pixels, 1);
    const expectedProjection = array(image.language_projection);
    assert.ok(cosine(q.languageProjection.data as Float32Array, expectedProjection) > 0.99, "int8 stays close to fp32");
    await int8.release();
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});

for (const quantize of ["int8", "int4"] as const) {
test(`${quantize} weights written to an external-data file (the > 2 GB path) give the same outputs as inline ones, and each weight is written once`, async () => {
  const cfg = loadBlip2Config(golden);
  const model = new Blip2ForConditionalGeneration(cfg, Weights.of(openCheckpoint(golden)));
  const lowering = { fused: true, quantize };
  const feeds = { [io.pixelValues]: new ort.Tensor("float32", array(image.pixel_values), [1, 3, cfg.vision.imageSize, cfg.vision.imageSize]) };
  const inline = await CompiledGraph.compile(model.visionGraph(lowering), { threads: 1 });
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-spill-test-"));
  const spill = new ExternalDataFile(folder, "weights.bin", 0); // every weight spills, however small
  try {
    const external = await CompiledGraph.compile(model.visionGraph(lowering), { threads: 1, spill });
    const written = spill.bytes;
    assert.ok(written > 0);
    // Another graph of the same model with the same weights (a second session) adds nothing to the file.
    await (await CompiledGraph.compile(model.visionGraph(lowering), { threads: 1, spill })).release();
    assert.equal(spill.bytes, written);
    const a = await inline.run(feeds);
    const b = await external.run(feeds);
    for (const name of [io.imageEmbeds, io.qformerOutput, io.languageProjection]) assert.deepEqual(b[name]!.data, a[name]!.data, name);
    await external.release();
  } finally {
    await inline.release();
    spill.remove();
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) (ab += a[i]! * b[i]!), (aa += a[i]! * a[i]!), (bb += b[i]! * b[i]!);
  return ab / Math.sqrt(aa * bb);
}
