// BLIP-2 config loader against transformers 4.40.2's resolved configs of the golden cases, and its
// refusals (each message names the key to fix).
import { test } from "node:test";
import assert from "node:assert/strict";
import { blip2Opt27b, Blip2ConfigError, loadBlip2Config, parseBlip2Config, toHfBlip2ConfigJson } from "../../src/models/blip2/config.js";
import { blip2CaseDir, blip2Cases, readBlip2Expected } from "../helpers/golden.js";

for (const name of blip2Cases) {
  test(`${name}: every key we write back equals transformers' resolved value`, () => {
    const hf = toHfBlip2ConfigJson(loadBlip2Config(blip2CaseDir(name)));
    const resolved = readBlip2Expected(name).model.resolved_config;
    for (const [key, value] of Object.entries(hf)) {
      if (key.endsWith("_config")) {
        for (const [sub, v] of Object.entries(value as Record<string, unknown>)) assert.deepEqual(v, resolved[key][sub], `${key}.${sub}`);
      } else assert.deepEqual(value, resolved[key], key);
    }
  });
}

test("the blip2-opt-2.7b preset has the hub checkpoint's shapes", () => {
  const cfg = blip2Opt27b();
  assert.deepEqual([cfg.vision.hiddenSize, cfg.vision.numHiddenLayers, cfg.vision.imageSize, cfg.vision.patchSize, cfg.vision.layerNormEps], [1408, 39, 224, 14, 1e-6]);
  assert.deepEqual([cfg.qformer.hiddenSize, cfg.qformer.numHiddenLayers, cfg.qformer.encoderHiddenSize, cfg.numQueryTokens], [768, 12, 1408, 32]);
  assert.deepEqual([cfg.text.hiddenSize, cfg.text.numHiddenLayers, cfg.text.ffnDim, cfg.text.eosTokenIds, cfg.text.padTokenId], [2560, 32, 10240, [50118], 1]);
});

test("an eos_token_id list is kept whole; the Q-Former's encoder width is always the vision width", () => {
  const cfg = parseBlip2Config({ model_type: "blip-2", text_config: { eos_token_id: [50118, 2] }, qformer_config: { encoder_hidden_size: 7 } });
  assert.deepEqual(cfg.text.eosTokenIds, [50118, 2]);
  assert.equal(cfg.qformer.encoderHiddenSize, 1408);
});

test("configs captioner cannot run are refused with the key to fix", () => {
  const refuse = (json: unknown, message: RegExp) => assert.throws(() => parseBlip2Config(json), (e: Error) => e instanceof Blip2ConfigError && message.test(e.message));
  refuse({ model_type: "blip" }, /model_type "blip", not "blip-2"/);
  refuse({ model_type: "blip-2", text_config: { model_type: "t5" } }, /text_config.model_type "t5" is not supported; .* OPT/);
  refuse({ model_type: "blip-2", qformer_config: { hidden_size: 30 } }, /qformer_config.hidden_size 30 is not a multiple of qformer_config.num_attention_heads 12/);
  refuse({ model_type: "blip-2", text_config: { word_embed_proj_dim: 512 } }, /word_embed_proj_dim 512 differs from hidden_size 768/);
  refuse({ model_type: "blip-2", text_config: { eos_token_id: 60000 } }, /text_config.eos_token_id 60000 is outside the vocabulary/);
  refuse({ model_type: "blip-2", text_config: { eos_token_id: [] } }, /text_config.eos_token_id must be a token id or a non-empty list/);
  refuse({ model_type: "blip-2", num_query_tokens: 0 }, /num_query_tokens must be a positive integer/);
});
