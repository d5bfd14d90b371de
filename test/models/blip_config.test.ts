// BLIP config loader against transformers 4.40.2's resolved configs of the golden cases.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  BlipConfigError, blipBase, blipLarge, loadBlipConfig, parseBlipConfig, toHfConfigJson,
} from "../../src/models/blip/config.js";

const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/blip/", import.meta.url));
const CASES = ["base_like_32px", "odd_36px_patch8", "deep_48px_patch16", "legacy_files_24px"];

interface CaseSizes { case: string; vision: Record<string, number>; text: Record<string, number> }
const caseSizes: CaseSizes[] = JSON.parse(fs.readFileSync(path.join(GOLDEN, "cases.json"), "utf8")).cases;

function resolvedConfig(name: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(GOLDEN, name, "expected.json"), "utf8")).model.resolved_config;
}

// Keys the BLIP config classes of 4.40 read (configuration_blip.py), plus the generation
// attributes BLIP's generate() takes from text_config.
const TEXT_KEYS = [
  "model_type", "vocab_size", "hidden_size", "encoder_hidden_size", "intermediate_size", "projection_dim",
  "hidden_dropout_prob", "num_hidden_layers", "num_attention_heads", "max_position_embeddings", "layer_norm_eps",
  "hidden_act", "initializer_range", "attention_probs_dropout_prob", "is_decoder", "use_cache", "label_smoothing",
  "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
  "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_return_sequences", "length_penalty",
  "repetition_penalty", "no_repeat_ngram_size",
];
const VISION_KEYS = [
  "model_type", "hidden_size", "intermediate_size", "projection_dim", "num_hidden_layers", "num_attention_heads",
  "patch_size", "image_size", "initializer_range", "attention_dropout", "layer_norm_eps", "hidden_act",
];
const TOP_KEYS = [
  "model_type", "architectures", "projection_dim", "logit_scale_init_value", "image_text_hidden_size", "label_smoothing",
  "initializer_factor", "initializer_range", "torch_dtype",
];

function assertMatchesResolved(ours: Record<string, unknown>, resolved: Record<string, unknown>, keys: string[], where: string): void {
  for (const k of keys) assert.ok(k in ours, `${where}: our full config lacks ${k}`);
  for (const [k, v] of Object.entries(ours)) {
    if (k === "text_config" || k === "vision_config") continue;
    assert.ok(k in resolved, `${where}: ${k} is not a key of the resolved config`);
    assert.deepEqual(v, resolved[k], `${where}.${k}`);
  }
}

for (const name of CASES) {
  test(`${name}: config.json resolves exactly as transformers 4.40 resolves it`, () => {
    const cfg = loadBlipConfig(path.join(GOLDEN, name));
    const resolved = resolvedConfig(name);
    const hf = toHfConfigJson(cfg);
    assertMatchesResolved(hf, resolved, TOP_KEYS, name);
    assertMatchesResolved(hf.text_config as Record<string, unknown>, resolved.text_config as Record<string, unknown>, TEXT_KEYS, `${name}.text_config`);
    assertMatchesResolved(hf.vision_config as Record<string, unknown>, resolved.vision_config as Record<string, unknown>, VISION_KEYS, `${name}.vision_config`);

    // The camelCase fields agree with the case table too.
    const sizes = caseSizes.find((c) => c.case === name)!;
    assert.equal(cfg.vision.hiddenSize, sizes.vision.hidden_size);
    assert.equal(cfg.vision.numAttentionHeads, sizes.vision.num_attention_heads);
    assert.equal(cfg.vision.imageSize, sizes.vision.image_size);
    assert.equal(cfg.vision.patchSize, sizes.vision.patch_size);
    assert.equal(cfg.text.encoderHiddenSize, sizes.text.encoder_hidden_size);
    assert.equal(cfg.text.numAttentionHeads, sizes.text.num_attention_heads);
    assert.equal(cfg.text.bosTokenId, sizes.text.bos_token_id);
    assert.equal(cfg.text.sepTokenId, sizes.text.sep_token_id);
    assert.equal(cfg.text.maxPositionEmbeddings, sizes.text.max_position_embeddings);
  });

  test(`${name}: toHfConfigJson round-trips`, () => {
    const cfg = loadBlipConfig(path.join(GOLDEN, name));
    assert.deepEqual(parseBlipConfig(toHfConfigJson(cfg)), cfg);
  });
}

test("omitted keys get transformers 4.40 defaults (README item 7)", () => {
  const cfg = parseBlipConfig({ model_type: "blip" });
  assert.deepEqual(
    { ...cfg.text, generation: undefined },
    {
      vocabSize: 30524, hiddenSize: 768, encoderHiddenSize: 768, intermediateSize: 3072, projectionDim: 768,
      numHiddenLayers: 12, numAttentionHeads: 8, maxPositionEmbeddings: 512, hiddenAct: "gelu", layerNormEps: 1e-12,
      hiddenDropoutProb: 0, attentionProbsDropoutProb: 0, initializerRange: 0.02, isDecoder: true, useCache: true,
      labelSmoothing: 0, bosTokenId: 30522, eosTokenId: 2, padTokenId: 0, sepTokenId: 102, generation: undefined,
    },
  );
  assert.deepEqual(cfg.text.generation, {
    maxLength: 20, minLength: 0, doSample: false, earlyStopping: false, numBeams: 1, numReturnSequences: 1,
    lengthPenalty: 1, repetitionPenalty: 1, noRepeatNgramSize: 0,
  });
  assert.deepEqual(cfg.vision, {
    hiddenSize: 768, intermediateSize: 3072, projectionDim: 512, numHiddenLayers: 12, numAttentionHeads: 12,
    imageSize: 384, patchSize: 16, hiddenAct: "gelu", layerNormEps: 1e-5, attentionDropout: 0, initializerRange: 1e-10,
  });
  assert.equal(cfg.projectionDim, 512);
  assert.equal(cfg.imageTextHiddenSize, 256);
  assert.equal(cfg.logitScaleInitValue, 2.6592);
});

test("encoder_hidden_size always follows the vision width", () => {
  const cfg = parseBlipConfig({ model_type: "blip", text_config: { encoder_hidden_size: 999 }, vision_config: { hidden_size: 64, num_attention_heads: 4 } });
  assert.equal(cfg.text.encoderHiddenSize, 64);
});

test("the parsed config is deep-frozen", () => {
  const cfg = parseBlipConfig({ model_type: "blip" });
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.text) && Object.isFrozen(cfg.vision) && Object.isFrozen(cfg.text.generation));
  assert.throws(() => {
    (cfg.text as { vocabSize: number }).vocabSize = 1;
  }, TypeError);
});

test("presets: blip-image-captioning-base and -large", () => {
  const base = blipBase();
  assert.equal(base.text.numAttentionHeads, 12); // the hub file's value, not the class default 8
  assert.equal(base.text.hiddenSize, 768);
  assert.equal(base.text.vocabSize, 30524);
  assert.equal(base.text.bosTokenId, 30522);
  assert.equal(base.text.sepTokenId, 102);
  assert.deepEqual([base.vision.hiddenSize, base.vision.numHiddenLayers, base.vision.numAttentionHeads, base.vision.imageSize, base.vision.patchSize], [768, 12, 12, 384, 16]);
  assert.equal(base.text.encoderHiddenSize, 768);
  const large = blipLarge();
  assert.deepEqual(
    [large.vision.hiddenSize, large.vision.intermediateSize, large.vision.numHiddenLayers, large.vision.numAttentionHeads, large.vision.imageSize],
    [1024, 4096, 24, 16, 384],
  );
  assert.equal(large.text.encoderHiddenSize, 1024);
  assert.equal(large.text.numAttentionHeads, 12);
  assert.deepEqual(parseBlipConfig(toHfConfigJson(large)), large);
});

test("a config that is not BLIP is refused with a clear message", () => {
  assert.throws(() => parseBlipConfig({ model_type: "blip-2" }), (e: Error) => e instanceof BlipConfigError && /not "blip"/.test(e.message) && /BLIP-2/.test(e.message));
  assert.throws(() => parseBlipConfig({ model_type: "bert" }), /model_type "bert", not "blip"/);
  assert.throws(() => parseBlipConfig({ text_config: {} }), /model_type null, not "blip"/);
  assert.throws(() => parseBlipConfig([]), /must be a JSON object/);
  assert.throws(() => parseBlipConfig({ model_type: "blip", text_config: { model_type: "bert" } }), /text_config\.model_type is "bert"/);
});

test("bad values name the key to fix", () => {
  const bad = (text: object, vision: object = {}) => () => parseBlipConfig({ model_type: "blip", text_config: text, vision_config: vision });
  assert.throws(bad({ num_attention_heads: "12" }), /text_config\.num_attention_heads must be a positive integer, got "12"/);
  assert.throws(bad({ num_hidden_layers: 0 }), /text_config\.num_hidden_layers must be a positive integer/);
  assert.throws(bad({ layer_norm_eps: -1 }), /layer_norm_eps must be a positive number/);
  assert.throws(bad({ pad_token_id: null }), /pad_token_id must be a non-negative integer token id, got null/);
  assert.throws(bad({ hidden_act: "nope" }), /hidden_act must be one of gelu/);
  assert.throws(bad({}, { hidden_size: 40, num_attention_heads: 3 }), /vision_config\.hidden_size 40 is not a multiple of vision_config\.num_attention_heads 3/);
  assert.throws(bad({ vocab_size: 100 }), /bos_token_id 30522 is outside the vocabulary \(vocab_size 100\)/);
  assert.throws(bad({}, { image_size: 8, patch_size: 16 }), /patch_size 16 is larger than image_size 8/);
  assert.throws(() => parseBlipConfig({ model_type: "blip", vision_config: [1] }), /vision_config must be an object/);
  assert.throws(bad({ early_stopping: "sometimes" }), /early_stopping must be true, false or "never"/);
});

test("loadBlipConfig: missing folder, invalid JSON and bad values mention the file", () => {
  assert.throws(() => loadBlipConfig("/nonexistent/blip-folder"), (e: Error) => e instanceof BlipConfigError && /no config\.json in \/nonexistent\/blip-folder/.test(e.message));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "blip-config-"));
  try {
    fs.writeFileSync(path.join(dir, "config.json"), "{ not json");
    assert.throws(() => loadBlipConfig(dir), /config\.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "blip", text_config: { vocab_size: -3 } }));
    assert.throws(() => loadBlipConfig(dir), (e: Error) => e.message.startsWith(path.join(dir, "config.json")) && /vocab_size/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
