// BLIP checkpoints with random weights, written as ordinary HF folders (config.json,
// model.safetensors, tokenizer.json, preprocessor_config.json) so a benchmark measures the whole
// loading path. Shapes come from the model code itself: nothing lists parameter names by hand.
import * as fs from "node:fs";
import * as path from "node:path";
import { writeSafetensors } from "../../engine/checkpoint/safetensors_write.js";
import { Weights } from "../../engine/weights.js";
import { type BlipConfig, toHfConfigJson } from "./config.js";
import { BlipForConditionalGeneration } from "./model.js";
import { randomInitialiser } from "../random.js";

/** Writes a BLIP folder with uniform random weights of std 0.02 (LayerNorms γ=1, β=0). */
export function writeRandomBlip(folder: string, cfg: BlipConfig, seed: number): void {
  fs.mkdirSync(folder, { recursive: true });
  const weights = Weights.initialised(randomInitialiser(seed));
  new BlipForConditionalGeneration(cfg, weights);
  writeSafetensors(
    path.join(folder, "model.safetensors"),
    [...weights.params().values()].map((p) => ({ name: p.name, dtype: "float32", shape: p.shape, bytes: () => p.data.bytes, byteLength: p.data.bytes.byteLength })),
  );
  fs.writeFileSync(path.join(folder, "config.json"), JSON.stringify(toHfConfigJson(cfg), null, 2));
  fs.writeFileSync(path.join(folder, "tokenizer.json"), JSON.stringify(bertTokenizerJson(cfg.text.vocabSize - 2)));
  fs.writeFileSync(path.join(folder, "preprocessor_config.json"), JSON.stringify({ size: cfg.vision.imageSize }));
}

/** A BERT-uncased-shaped WordPiece tokenizer.json: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103. */
function bertTokenizerJson(vocabSize: number) {
  const vocab: Record<string, number> = {};
  const special = new Map([[0, "[PAD]"], [100, "[UNK]"], [101, "[CLS]"], [102, "[SEP]"], [103, "[MASK]"]]);
  for (let id = 0; id < vocabSize; id++) vocab[special.get(id) ?? (id < 100 ? `[unused${id - 1}]` : `w${id}`)] = id;
  const added = [...special].map(([id, content]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added,
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [],
      special_tokens: { "[CLS]": { id: "[CLS]", ids: [101], tokens: ["[CLS]"] }, "[SEP]": { id: "[SEP]", ids: [102], tokens: ["[SEP]"] } },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
}
