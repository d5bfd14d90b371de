// BLIP-2 (OPT) against transformers 4.40.2's numbers in ../shared/golden/blip2: every image's
// intermediates and first-step logits, teacher-forced logits (abs 1e-4), and every generate() call's
// output_ids exactly (beam scores at 1e-4). Pixels are the reference pixel_values and prompts the
// reference tokenizer's ids, so only the network and the generation loop are under test here.
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCheckpoint } from "../../src/engine/checkpoint/index.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";
import { Weights } from "../../src/engine/weights.js";
import { Captioner, type CaptionOptions } from "../../src/generation/captioner.js";
import { generate, type GenerationDefaults } from "../../src/generation/generate.js";
import type { GenerationOptions } from "../../src/generation/options.js";
import { loadBlip2Config, parseBlip2Config } from "../../src/models/blip2/config.js";
import { writeRandomBlip2 } from "../../src/models/blip2/random.js";
import { Blip2Network } from "../../src/models/blip2/load.js";
import { Blip2ForConditionalGeneration, io } from "../../src/models/blip2/model.js";
import { causalBias, idsAndPositions } from "../../src/models/decoder_state.js";
import { assertClose, blip2CaseDir, blip2Cases, readArray, readBlip2Expected } from "../helpers/golden.js";

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

interface GoldenImage { name: string; [array: string]: unknown }

for (const caseName of blip2Cases) for (const fused of [false, true]) {
  describe(`BLIP-2 parity: ${caseName} (${fused ? "fused kernels" : "plain ONNX"})`, async () => {
    const dir = blip2CaseDir(caseName);
    const expected = readBlip2Expected(caseName);
    const lowering = { fused, quantize: "none" as const };
    const network = await Blip2Network.load(dir, { threads: 1, lowering });
    const array = (ref: unknown) => readArray(dir, ref as Parameters<typeof readArray>[1]) as Float32Array;
    const imageOf = (name: string): GoldenImage => expected.images.find((i: GoldenImage) => i.name === name);
    const pixelsOf = (names: readonly string[]) => {
      const arrays = names.map((n) => array(imageOf(n).pixel_values));
      const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
      arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
      return out;
    };
    const g = network.generation;
    assert.notEqual(g.earlyStopping, "never");
    const defaults = { ...g } as GenerationDefaults;

    test("the config resolves as transformers resolved it", () => {
      const resolved = expected.model.resolved_config;
      const cfg = network.config;
      assert.equal(cfg.numQueryTokens, resolved.num_query_tokens);
      assert.equal(cfg.vision.layerNormEps, resolved.vision_config.layer_norm_eps);
      assert.equal(cfg.qformer.crossAttentionFrequency, resolved.qformer_config.cross_attention_frequency);
      assert.equal(cfg.qformer.encoderHiddenSize, resolved.vision_config.hidden_size);
      assert.deepEqual(cfg.text.eosTokenIds, [resolved.text_config.eos_token_id]);
      assert.deepEqual(network.special, {
        bos: expected.special_ids.bos_token_id, eos: expected.special_ids.eos_token_id_newline, pad: expected.special_ids.pad_token_id,
        layout: { promptInSequence: false, outputStart: [expected.special_ids.bos_token_id], maxLengthReserve: 1 },
      });
    });

    test("every checkpoint tensor is used (lm_head is tied and absent)", () => {
      assert.deepEqual(network.unusedWeights, []);
    });

    for (const image of expected.images as GoldenImage[]) {
      test(`vision, Q-Former, projection and first-step logits: ${image.name}`, async () => {
        const features = await network.encode(pixelsOf([image.name]), 1);
        assertClose(features.imageEmbeds.data as Float32Array, array(image.vision_last_hidden_state), 1e-4, "vision_last_hidden_state");
        assertClose(features.qformerOutput.data as Float32Array, array(image.qformer_last_hidden_state), 1e-4, "qformer_last_hidden_state");
        assertClose(features.languageProjection.data as Float32Array, array(image.language_projection), 1e-4, "language_projection");
        const logits = await network.stepModel(features).step([[network.special.bos]]);
        assertClose(logits, array(image.first_step_logits), 1e-4, "first_step_logits");
      });
    }

    test("teacher-forced logits: the whole sequence in one pass, and its token positions through the cached steps", async () => {
      const tf = expected.teacher_forced;
      const Q = network.config.numQueryTokens;
      const reference = array(tf.logits);
      const features = await network.encode(pixelsOf([tf.image]), 1);
      // One pass without cache: the graph built from the same model code, fed the projection.
      const model = new Blip2ForConditionalGeneration(loadBlip2Config(dir), Weights.of(openCheckpoint(dir, { maxInMemoryBytes: 0 })));
      const full = await CompiledGraph.compile(model.fullSequenceGraph(lowering), { threads: 1, weightsFolder: fs.realpathSync(dir) });
      const T = tf.input_ids[0].length;
      const { positions } = idsAndPositions([new Array<number>(Q + T).fill(0)], 0);
      const out = await full.run({
        [io.languageProjection]: features.languageProjection,
        [io.inputIds]: new ort.Tensor("int64", BigInt64Array.from(tf.input_ids[0] as number[], BigInt), [1, T]),
        [io.positionIds]: positions,
        [io.mask]: causalBias(1, Q + T, 0),
      });
      assertClose(out[io.logits]!.data as Float32Array, reference, 1e-4, "teacher_forced.logits (one pass)");
      await full.release();
      const { logits } = await network.stepModel(features).forward(tf.input_ids);
      const vocab = network.config.text.vocabSize;
      assertClose(logits, reference.subarray(Q * vocab), 1e-4, "teacher_forced.logits (token positions, after the cached queries)");
    });

    for (const call of expected.generation) {
      test(`generate: ${call.name}`, async () => {
        const options: GenerationOptions = Object.fromEntries(Object.entries(call.generate_kwargs).map(([k, v]) => [camel(k), v]));
        const prompts = (call.images as string[]).map((_, i) => promptIds(expected, call.prompt?.[i], network.special.bos));
        if (call.processor_input_ids) assert.deepEqual(prompts, call.processor_input_ids);
        const features = await network.encode(pixelsOf(call.images), call.images.length);
        const rows = (await generate(network.stepModel(features), prompts, network.special, options, defaults)).flat();
        assert.deepEqual(rows.map((r) => r.ids), call.output_ids);
        if (call.sequences_scores) assertClose(rows.map((r) => r.score!), call.sequences_scores, 1e-4, "sequences_scores");
      });
    }

    test("greedy step scores equal transformers' output_scores", async () => {
      const call = expected.generation.find((c: { name: string }) => c.name === "greedy_default");
      const features = await network.encode(pixelsOf(call.images), 1);
      const steps: Float32Array[] = [];
      await generate(network.stepModel(features), [[network.special.bos]], network.special, {}, defaults, (_row, _step, scores) => steps.push(scores.slice()));
      const flat = new Float32Array(steps.reduce((n, s) => n + s.length, 0));
      steps.reduce((at, s) => (flat.set(s, at), at + s.length), 0);
      assertClose(flat, array(call.step_scores), 1e-4, "step_scores");
    });
  });
}

for (const caseName of blip2Cases) {
  describe(`BLIP-2 through the Captioner (the checkpoint's own tokenizer): ${caseName}`, async () => {
    const dir = blip2CaseDir(caseName);
    const expected = readBlip2Expected(caseName);
    const captioner = await Captioner.load(dir, { threads: 1 });
    const pixelsOf = (names: readonly string[]) => {
      const arrays = names.map((n) => readArray(dir, expected.images.find((i: GoldenImage) => i.name === n).pixel_values) as Float32Array);
      const out = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
      arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
      return out;
    };

    test("the loader table picks BLIP-2 from config.json; prompts are the processor's ids", () => {
      assert.equal(captioner.model.modelType, "blip-2");
      assert.deepEqual(captioner.model.promptIds(undefined), [expected.special_ids.bos_token_id]);
      for (const t of expected.tokenization.filter((t: { text: string }) => t.text !== "")) assert.deepEqual(captioner.model.promptIds(t.text), t.fast_input_ids, t.text);
    });

    for (const call of expected.generation) {
      test(`${call.name}: ids and text`, async () => {
        const options: CaptionOptions = Object.fromEntries(Object.entries(call.generate_kwargs).map(([k, v]) => [camel(k), v]));
        if (call.prompt) options.prompt = call.prompt;
        const rows = (await captioner.captionPixels(pixelsOf(call.images), call.images.length, options)).flat();
        assert.deepEqual(rows.map((r) => r.ids), call.output_ids);
        assert.deepEqual(rows.map((r) => r.text), call.decoded.fast_skip_special);
      });
    }
  });
}

/** The reference tokenizer's ids for `prompt` (from expected.json's tokenization table); none: `[bos]`, as generate() starts. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function promptIds(expected: any, prompt: string | undefined, bos: number): number[] {
  if (prompt === undefined) return [bos];
  const entry = expected.tokenization.find((t: { text: string }) => t.text === prompt);
  assert.ok(entry, `no tokenization entry for prompt ${JSON.stringify(prompt)}`);
  return entry.fast_input_ids;
}

test("a max_length that leaves nothing after the prompt and the reserved bos is refused; one that leaves one token gives one", async () => {
  const dir = blip2CaseDir("opt_28px_q8");
  const expected = readBlip2Expected("opt_28px_q8");
  const network = await Blip2Network.load(dir, { threads: 1 });
  const pixels = readArray(dir, expected.images[0].pixel_values) as Float32Array;
  const run = async (options: GenerationOptions, prompt = [network.special.bos]) =>
    generate(network.stepModel(await network.encode(pixels, 1)), [prompt], network.special, options, { ...network.generation } as GenerationDefaults);
  await assert.rejects(run({ maxLength: 2 }), /maxLength \(2\) must be greater than the prompt's 1 tokens \(start token included\) plus the 1 this model's max_length reserves/);
  assert.deepEqual((await run({ maxLength: 3 }))[0]![0]!.ids.length, 2); // [bos, one new token]
  // Positions: 64 in OPT, 8 taken by the queries.
  await assert.rejects(run({ maxNewTokens: 56 }), /maxLength 57 .* exceeds the model's 56 positions/);
  // The message names the maxLength asked for and what is left of it after the reserved bos.
  await assert.rejects(run({ maxLength: 58 }), /maxLength 58 \(.*less the 1 this model's max_length reserves: 57 tokens\) exceeds the model's 56 positions/);
  assert.equal((await run({ maxLength: 57 }))[0]![0]!.ids.length <= 57, true);
  assert.equal((await run({ maxNewTokens: 55 }))[0]![0]!.ids.length <= 56, true);
  await network.release();
});

test("a random checkpoint written from the model code loads and captions (the benchmark shapes' writer)", async () => {
  const cfg = parseBlip2Config({
    model_type: "blip-2", num_query_tokens: 4,
    vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 16, patch_size: 8 },
    qformer_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2 },
    text_config: { hidden_size: 16, ffn_dim: 32, num_hidden_layers: 2, num_attention_heads: 2, vocab_size: 300, eos_token_id: 290, max_position_embeddings: 32 },
  });
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-blip2-random-"));
  writeRandomBlip2(folder, cfg, 7);
  assert.deepEqual(loadBlip2Config(folder), cfg);
  const captioner = await Captioner.load(folder, { threads: 1 });
  try {
    assert.deepEqual(captioner.model.unusedWeights, []);
    assert.deepEqual(captioner.model.tokenizer.encode("a\n").ids, [2, 4 + 97, 290], "the newline is the eos id, as in OPT's vocabulary");
    const [[caption]] = await captioner.caption([fs.readFileSync(path.join(blip2CaseDir("opt_28px_q8"), "images", "rgb_square.png"))], { maxNewTokens: 5 });
    assert.equal(caption!.ids[0], 2);
    assert.ok(caption!.ids.length >= 2 && caption!.ids.length <= 6 && caption!.ids.every((id) => id >= 0 && id < 300));
    assert.equal(caption!.text, captioner.model.decode(caption!.ids));
  } finally {
    await captioner.release();
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
