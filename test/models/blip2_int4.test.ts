// BLIP-2 with 4-bit weights (`quantize: "int4"`) on the golden tiny models, against transformers' fp32
// numbers. Tolerance: 4-bit blocks of 32 put ≈ 8% rms noise on every Linear's output
// (test/engine/int4.test.ts), and these models are tiny and random, so the noise does not average out:
// measured cosines to transformers are 0.977–0.989 (first-step logits) and 0.982–0.995 (projection)
// over the 16 image × case pairs, ≥ 0.980 at the 21 teacher-forced positions; ≥ 0.95 leaves room for other MLAS kernels (AVX-512, ARM), while a wrong layout
// (the nibbles of a byte swapped) gives projection cosines below 0.25. Greedy tokens are not compared:
// transformers' first-step top-2 margins here are 0.04–0.48, below int4's logit error (≤ 0.71).
import test from "node:test";
import assert from "node:assert/strict";
import { Blip2Network } from "../../src/models/blip2/load.js";
import { blip2CaseDir, blip2Cases, readArray, readBlip2Expected } from "../helpers/golden.js";

const MIN_COSINE = 0.95;
const lowering = { fused: true, quantize: "int4" as const };

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) (ab += a[i]! * b[i]!), (aa += a[i]! * a[i]!), (bb += b[i]! * b[i]!);
  return ab / Math.sqrt(aa * bb);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

for (const caseName of blip2Cases) {
  test(`int4 ${caseName}: every image's projection and first-step logits, and the teacher-forced logits, near transformers' fp32`, async () => {
    const dir = blip2CaseDir(caseName);
    const expected = readBlip2Expected(caseName);
    const array = (ref: unknown) => readArray(dir, ref as Parameters<typeof readArray>[1]) as Float32Array;
    const net = await Blip2Network.load(dir, { threads: 1, lowering });
    try {
      for (const image of expected.images) {
        const features = await net.encode(array(image.pixel_values), 1);
        const projection = features.languageProjection.data as Float32Array;
        const logits = await net.stepModel(features).step([[net.special.bos]]);
        const [p, l] = [cosine(projection, array(image.language_projection)), cosine(logits, array(image.first_step_logits))];
        assert.ok(p >= MIN_COSINE && l >= MIN_COSINE, `${image.name}: projection cosine ${p}, logits cosine ${l}`);
        assert.ok(maxDiff(logits, array(image.first_step_logits)) > 1e-2, `${image.name}: int4 must actually quantise`);
      }
      // Transformers' greedy ids fed one step at a time (the decode kernel, one row after the first
      // step's Q + 1): each position's logits against the teacher-forced pass.
      const tf = expected.teacher_forced;
      const image = expected.images.find((i: { name: string }) => i.name === tf.image);
      const reference = array(tf.logits);
      const [, positions, vocab] = tf.logits.shape as number[];
      const Q = positions! - tf.input_ids[0].length;
      const step = net.stepModel(await net.encode(array(image.pixel_values), 1));
      for (const [j, id] of (tf.input_ids[0] as number[]).entries()) {
        const logits = await step.step([[id]]);
        const c = cosine(logits, reference.subarray((Q + j) * vocab!, (Q + j + 1) * vocab!));
        assert.ok(c >= MIN_COSINE, `teacher-forced position ${j}: cosine ${c}`);
      }
    } finally {
      await net.release();
    }
  });
}
