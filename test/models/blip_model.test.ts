// The BLIP graphs against transformers 4.40.2's numbers, fed the reference pixel_values so that
// preprocessing differences cannot leak in (tolerance abs 1e-4, as the golden README says).
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import { loadCaptionModel } from "../../src/models/index.js";
import { assertClose, blipCaseDir, blipCases, readArray, readExpected } from "../helpers/golden.js";

for (const caseName of blipCases) for (const fused of [false, true]) {
  describe(`BLIP network parity: ${caseName} (${fused ? "fused kernels" : "plain ONNX"})`, async () => {
    const dir = blipCaseDir(caseName);
    const expected = readExpected(caseName);
    const sessions = await loadCaptionModel(dir, { threads: 1, lowering: { fused, quantize: "none" } });
    const pixelsOf = (name: string) => readArray(dir, expected.images.find((i: { name: string }) => i.name === name).pixel_values) as Float32Array;

    test("every checkpoint tensor is used (only the aliased decoder bias may be absent)", () => {
      assert.deepEqual(sessions.unusedWeights, []);
    });

    for (const image of expected.images) {
      test(`vision states and first-step logits: ${image.name}`, async () => {
        const features = await sessions.encode(pixelsOf(image.name), 1);
        assertClose(features.imageEmbeds.data as Float32Array, readArray(dir, image.vision_last_hidden_state), 1e-4, "vision_last_hidden_state");
        const logits = await sessions.stepModel(features).step([[expected.special_ids.dec_bos_token_id]]);
        assertClose(logits, readArray(dir, image.first_step_logits), 1e-4, "first_step_logits");
      });
    }

    test("teacher-forced logits over the whole greedy caption in one pass", async () => {
      const tf = expected.teacher_forced;
      const features = await sessions.encode(pixelsOf(tf.image), 1);
      const { logits } = await sessions.stepModel(features).forward(tf.input_ids);
      assertClose(logits, readArray(dir, tf.logits), 1e-4, "teacher_forced.logits");
    });
  });
}
