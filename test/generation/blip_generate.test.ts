// generate() parity with transformers 4.40.2 on every golden `generation[]` call: ids and decoded
// text exactly, beam scores and greedy step scores at abs 1e-4. Pixels are the reference
// pixel_values, so only the model and the generation loop are under test here.
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import { Captioner, type CaptionOptions } from "../../src/generation/captioner.js";
import { generate } from "../../src/generation/generate.js";
import { assertClose, blipCaseDir, blipCases, readArray, readExpected } from "../helpers/golden.js";

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

for (const caseName of blipCases) for (const fused of [false, true]) {
  describe(`BLIP generate parity: ${caseName} (${fused ? "fused kernels" : "plain ONNX"})`, async () => {
    const dir = blipCaseDir(caseName);
    const expected = readExpected(caseName);
    const captioner = await Captioner.load(dir, { threads: 1, lowering: { fused, quantize: "none" } });
    const pixelsOf = (names: string[]) => {
      const arrays = names.map((n) => readArray(dir, expected.images.find((i: { name: string }) => i.name === n).pixel_values) as Float32Array);
      const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
      arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
      return out;
    };

    for (const call of expected.generation) {
      const quirk = call.name === "batch2_cond_padded_prompts_quirk";
      test(`${call.name}${quirk ? " (each image gets its unbatched result, not transformers' padded-prompt quirk)" : ""}`, async () => {
        const options: CaptionOptions = Object.fromEntries(Object.entries(call.generate_kwargs).map(([k, v]) => [camel(k), v]));
        if (call.prompt !== null) options.prompt = call.prompt;
        const results = await captioner.captionPixels(pixelsOf(call.images), call.images.length, options);
        if (quirk) {
          // Alone, each image with its own prompt; together, the same captions.
          for (let i = 0; i < call.images.length; i++) {
            const alone = await captioner.captionPixels(pixelsOf([call.images[i]]), 1, { ...options, prompt: call.prompt[i] });
            assert.equal(results[i]![0]!.text, alone[0]![0]!.text);
            assert.deepEqual(results[i]![0]!.ids.slice(0, alone[0]![0]!.ids.length), alone[0]![0]!.ids);
          }
          // The row whose prompt fills the batch is unaffected by the quirk: it matches transformers
          // (up to the padding, whose width depends on the other row).
          assert.equal(results[0]![0]!.text, call.decoded.fast_skip_special[0]);
          const unpadded = (ids: number[]) => ids.slice(0, ids.lastIndexOf(captioner.model.special.eos) + 1 || ids.length);
          assert.deepEqual(unpadded(results[0]![0]!.ids), unpadded(call.output_ids[0]));
          return;
        }
        const rows = results.flat();
        assert.deepEqual(rows.map((r) => r.ids), call.output_ids);
        assert.deepEqual(rows.map((r) => r.text), call.decoded.fast_skip_special);
        if (call.sequences_scores) assertClose(rows.map((r) => r.score!), call.sequences_scores, 1e-4, "sequences_scores");
      });
    }

    test("greedy step scores equal transformers' output_scores", async () => {
      const call = expected.generation.find((g: { name: string }) => g.name === "greedy_default");
      const { model } = captioner;
      const features = await model.encode(pixelsOf(call.images), 1);
      const steps: Float32Array[] = [];
      await generate(model.stepModel(features), [[model.special.bos]], model.special, {}, captioner.defaults, (_row, _step, scores) => steps.push(scores.slice()));
      const flat = new Float32Array(steps.reduce((n, s) => n + s.length, 0));
      steps.reduce((at, s) => (flat.set(s, at), at + s.length), 0);
      assertClose(flat, readArray(dir, call.step_scores), 1e-4, "step_scores");
    });
  });
}

test("a sequence longer than the model's position embeddings is refused with a clear error", async () => {
  const dir = blipCaseDir("base_like_32px"); // 64 positions
  const captioner = await Captioner.load(dir, { threads: 1 });
  const pixels = readArray(dir, readExpected("base_like_32px").images[0].pixel_values) as Float32Array;
  await assert.rejects(captioner.captionPixels(pixels, 1, { maxNewTokens: 64 }), /maxLength 65 .* exceeds the model's 64 positions/);
  await assert.rejects(captioner.captionPixels(pixels, 1, { prompt: "a dog ".repeat(40), maxNewTokens: 5 }), /exceeds the model's 64 positions; shorten the prompt/);
  assert.equal((await captioner.captionPixels(pixels, 1, { maxNewTokens: 63 }))[0]![0]!.ids.length <= 64, true);
  await captioner.release();
});

test("max_length that leaves no room after the prompt is refused, as transformers 4.40 does", async () => {
  const dir = blipCaseDir("base_like_32px");
  const captioner = await Captioner.load(dir, { threads: 1 });
  const pixels = readArray(dir, readExpected("base_like_32px").images[0].pixel_values) as Float32Array;
  await assert.rejects(captioner.captionPixels(pixels, 1, { maxLength: 1 }), /maxLength \(1\) must be greater than the prompt's 1 tokens/);
  await assert.rejects(captioner.captionPixels(pixels, 1, { prompt: "a picture of", maxLength: 4 }), /must be greater than the prompt's 4 tokens/);
  assert.equal((await captioner.captionPixels(pixels, 1, { maxLength: 2 }))[0]![0]!.ids.length, 2);
  await captioner.release();
});
