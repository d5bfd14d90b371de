// The training golden data (../shared/golden/blip/training, computed by transformers + PyTorch) and
// the batch it describes, rebuilt from the dataset files with captioner's own preprocessing.
import * as fs from "node:fs";
import * as path from "node:path";
import { loadTrainableModel, type TrainableModel } from "../../src/models/index.js";
import { concatFloat32, parseImageProcessorConfig, preprocessImage } from "../../src/preprocess/image_processor.js";
import type { CaptionBatch } from "../../src/training/train_graph.js";
import { blipCaseDir, goldenRoot } from "../helpers/golden.js";

export const trainingDir = path.join(goldenRoot, "blip", "training");
export const datasetDir = path.resolve(goldenRoot, "../datasets/shapes/train");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const trainingExpected: any = JSON.parse(fs.readFileSync(path.join(trainingDir, "expected.json"), "utf8"));

/** A golden array by its key in `arrays` (float64 gradients, float32 parameters). */
export function trainingArray(key: string): { values: Float64Array | Float32Array; l2: number; shape: number[] } {
  const ref = trainingExpected.arrays[key];
  const buf = fs.readFileSync(path.join(trainingDir, ref.file));
  const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return { values: ref.dtype === "float64" ? new Float64Array(bytes) : new Float32Array(bytes), l2: ref.l2, shape: ref.shape };
}

/** The golden model (`base_like_32px`), built fresh (each caller binds it into its own graphs). */
export function goldenModel(): TrainableModel {
  return loadTrainableModel(blipCaseDir(trainingExpected.case));
}

/** Batch `name` (`b1`, `b2`): token tensors as given, pixels from our image processor. */
export async function goldenBatch(name: string): Promise<{ batch: CaptionBatch; pixels: Float32Array }> {
  const b = trainingExpected.batches[name];
  const dir = blipCaseDir(trainingExpected.case);
  const cfg = parseImageProcessorConfig(JSON.parse(fs.readFileSync(path.join(dir, "preprocessor_config.json"), "utf8")));
  const images = await Promise.all((b.files as string[]).map(async (f) => preprocessImage(new Uint8Array(fs.readFileSync(path.join(datasetDir, f))), cfg)));
  return { batch: { inputIds: b.input_ids, attentionMask: b.attention_mask, labels: b.labels }, pixels: concatFloat32(images) };
}

export const l2 = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
