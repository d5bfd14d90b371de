// BLIP-2 checkpoints with random weights, written as ordinary HF folders (config.json,
// model.safetensors or its shards, tokenizer.json + tokenizer_config.json, preprocessor_config.json) so a benchmark measures the whole
// loading path. Shapes come from the model code itself; each tensor's values are generated only
// when it is written (seeded by its name), so a 3.8B-parameter folder never sits in memory.
import * as fs from "node:fs";
import * as path from "node:path";
import { writeSafetensorsCheckpoint } from "../../engine/checkpoint/safetensors_write.js";
import { Weights } from "../../engine/weights.js";
import { BYTE_TO_CHAR } from "../../preprocess/byte_level.js";
import { randomInitialiser } from "../random.js";
import { type Blip2Config, toHfBlip2ConfigJson } from "./config.js";
import { Blip2ForConditionalGeneration } from "./model.js";

/** Writes a BLIP-2 folder with uniform random weights of std 0.02 (LayerNorms γ=1, β=0); `maxShardBytes` as save_pretrained's. */
export function writeRandomBlip2(folder: string, cfg: Blip2Config, seed: number, maxShardBytes?: number): void {
  fs.mkdirSync(folder, { recursive: true });
  // Built once with empty values: only the names and shapes are needed here.
  const weights = Weights.initialised(() => new Float32Array(0));
  new Blip2ForConditionalGeneration(cfg, weights);
  const tensors = [...weights.params().values()].map((p) => {
    const count = p.shape.reduce((a, b) => a * b, 1);
    const bytes = () => new Uint8Array(randomInitialiser(seed ^ hash(p.name))(p.name, p.shape).buffer);
    return { name: p.name, dtype: "float32" as const, shape: p.shape, bytes, byteLength: 4 * count };
  });
  // Sharded like the hub's repos (≤ 5 GB per file, with model.safetensors.index.json) when that large.
  writeSafetensorsCheckpoint(folder, tensors, maxShardBytes);
  fs.writeFileSync(path.join(folder, "config.json"), JSON.stringify(toHfBlip2ConfigJson(cfg), null, 2));
  fs.writeFileSync(path.join(folder, "tokenizer.json"), JSON.stringify(optTokenizerJson(cfg.text.vocabSize, cfg.text.eosTokenIds[0]!)));
  // OPT's special tokens as its hub tokenizer_config.json names them (`</s>` doubles as bos, eos and unk).
  const specials = { bos_token: "</s>", eos_token: "</s>", unk_token: "</s>", pad_token: "<pad>" };
  fs.writeFileSync(path.join(folder, "tokenizer_config.json"), JSON.stringify({ ...specials, add_bos_token: true, add_prefix_space: false, errors: "replace", tokenizer_class: "GPT2Tokenizer" }));
  fs.writeFileSync(path.join(folder, "preprocessor_config.json"), JSON.stringify({ size: cfg.vision.imageSize }));
}

/** FNV-1a of a tensor name: each tensor gets its own random stream, whatever the writing order. */
function hash(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/**
 * An OPT-shaped byte-level BPE tokenizer.json: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, the 256 byte
 * symbols from id 4 (the newline swapped to `newlineId`, as OPT's 50118), filler words for the rest, no merges.
 */
function optTokenizerJson(vocabSize: number, newlineId: number) {
  const tokens: string[] = ["<s>", "<pad>", "</s>", "<unk>", ...BYTE_TO_CHAR];
  while (tokens.length < vocabSize) tokens.push(`w${tokens.length}`);
  tokens.length = vocabSize;
  const at = tokens.indexOf(BYTE_TO_CHAR[10]!);
  if (at >= 0 && newlineId > 3 && newlineId < vocabSize) [tokens[at], tokens[newlineId]] = [tokens[newlineId]!, tokens[at]!];
  const vocab = Object.fromEntries(tokens.map((t, id) => [t, id]));
  const added = [[1, "<pad>"], [2, "</s>"]].map(([id, content]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }));
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "</s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "</s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
}
