// BLIP configuration: one typed, read-only object parsed from a Hugging Face `config.json`
// (diff-only files of transformers 4.40 or full legacy ones), with 4.40's defaults for every
// omitted key, plus the presets of the two public captioning checkpoints.
// Each field is declared once in a table (camelCase name, HF key, kind, 4.40 default), so that
// parsing and writing back (`toHfConfigJson`) cannot drift apart.
import * as fs from "node:fs";
import * as path from "node:path";
import type { CheckpointGenerationConfig } from "../caption_model.js";
import { checkHeads as anyCheckHeads, ConfigError, deepFreeze, type Field, GENERATION_FIELDS, readFields as readAnyFields, subObject as anySubObject, writeFields } from "../config_fields.js";

const readFields = (src: Record<string, unknown>, fields: readonly Field[], where: string) => readAnyFields(src, fields, where, BlipConfigError);

/** A config.json that is not a BLIP config or has a bad value; the message names the key to fix. */
export class BlipConfigError extends ConfigError {
  override name = "BlipConfigError";
}

/** Generation defaults carried by `text_config` (BLIP's `generate()` builds its GenerationConfig from them). */
export type BlipGenerationDefaults = CheckpointGenerationConfig;

/** The ViT image encoder (`vision_config`). */
export interface BlipVisionConfig {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly projectionDim: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly hiddenAct: string;
  readonly layerNormEps: number;
  readonly attentionDropout: number;
  readonly initializerRange: number;
}

/** The BERT-style text decoder (`text_config`). */
export interface BlipTextConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  /** Width of the image tokens the cross-attention reads; always the vision hidden size. */
  readonly encoderHiddenSize: number;
  readonly intermediateSize: number;
  readonly projectionDim: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly maxPositionEmbeddings: number;
  readonly hiddenAct: string;
  readonly layerNormEps: number;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly initializerRange: number;
  readonly isDecoder: boolean;
  readonly useCache: boolean;
  readonly labelSmoothing: number;
  /** `[DEC]`, the decoder start token. */
  readonly bosTokenId: number;
  /** Unused by BLIP's generate (it stops on sepTokenId). */
  readonly eosTokenId: number | null;
  readonly padTokenId: number;
  /** `[SEP]`, the token generation stops on. */
  readonly sepTokenId: number;
  readonly generation: BlipGenerationDefaults;
}

/** A whole BLIP model config. */
export interface BlipConfig {
  readonly vision: BlipVisionConfig;
  readonly text: BlipTextConfig;
  readonly projectionDim: number;
  readonly logitScaleInitValue: number;
  readonly imageTextHiddenSize: number;
  readonly labelSmoothing: number;
  readonly initializerFactor: number;
  readonly initializerRange: number;
  readonly architectures: readonly string[] | null;
  readonly torchDtype: string | null;
}

const VISION_FIELDS: readonly Field[] = [
  ["hiddenSize", "hidden_size", "posInt", 768],
  ["intermediateSize", "intermediate_size", "posInt", 3072],
  ["projectionDim", "projection_dim", "posInt", 512],
  ["numHiddenLayers", "num_hidden_layers", "posInt", 12],
  ["numAttentionHeads", "num_attention_heads", "posInt", 12],
  ["imageSize", "image_size", "posInt", 384],
  ["patchSize", "patch_size", "posInt", 16],
  ["hiddenAct", "hidden_act", "act", "gelu"],
  ["layerNormEps", "layer_norm_eps", "posNumber", 1e-5],
  ["attentionDropout", "attention_dropout", "prob", 0.0],
  ["initializerRange", "initializer_range", "nonNegNumber", 1e-10],
];

const TEXT_FIELDS: readonly Field[] = [
  ["vocabSize", "vocab_size", "posInt", 30524],
  ["hiddenSize", "hidden_size", "posInt", 768],
  ["encoderHiddenSize", "encoder_hidden_size", "posInt", 768],
  ["intermediateSize", "intermediate_size", "posInt", 3072],
  ["projectionDim", "projection_dim", "posInt", 768],
  ["numHiddenLayers", "num_hidden_layers", "posInt", 12],
  ["numAttentionHeads", "num_attention_heads", "posInt", 8],
  ["maxPositionEmbeddings", "max_position_embeddings", "posInt", 512],
  ["hiddenAct", "hidden_act", "act", "gelu"],
  ["layerNormEps", "layer_norm_eps", "posNumber", 1e-12],
  ["hiddenDropoutProb", "hidden_dropout_prob", "prob", 0.0],
  ["attentionProbsDropoutProb", "attention_probs_dropout_prob", "prob", 0.0],
  ["initializerRange", "initializer_range", "nonNegNumber", 0.02],
  ["isDecoder", "is_decoder", "bool", true],
  ["useCache", "use_cache", "bool", true],
  ["labelSmoothing", "label_smoothing", "prob", 0.0],
  ["bosTokenId", "bos_token_id", "tokenId", 30522],
  ["eosTokenId", "eos_token_id", "intOrNull", 2],
  ["padTokenId", "pad_token_id", "tokenId", 0],
  ["sepTokenId", "sep_token_id", "tokenId", 102],
];

const TOP_FIELDS: readonly Field[] = [
  ["projectionDim", "projection_dim", "posInt", 512],
  ["logitScaleInitValue", "logit_scale_init_value", "number", 2.6592],
  ["imageTextHiddenSize", "image_text_hidden_size", "posInt", 256],
  ["labelSmoothing", "label_smoothing", "prob", 0.0],
];

const subObject = (json: Record<string, unknown>, key: string, modelType: string) => anySubObject(json, key, modelType, BlipConfigError);
const checkHeads = (where: string, hidden: number, heads: number) => anyCheckHeads(where, hidden, heads, BlipConfigError);

/**
 * Parses a BLIP `config.json` object (diff-only or full form) into a deep-frozen BlipConfig with
 * transformers 4.40's defaults for omitted keys; `text.encoderHiddenSize` is the vision width.
 */
export function parseBlipConfig(json: unknown): BlipConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new BlipConfigError("config.json must be a JSON object");
  const top = json as Record<string, unknown>;
  if (top.model_type !== "blip") {
    const hint = top.model_type === "blip-2" ? " (BLIP-2 has its own loader)" : "";
    throw new BlipConfigError(
      `config.json has model_type ${JSON.stringify(top.model_type ?? null)}, not "blip"${hint}: this is not a BLIP checkpoint config`,
    );
  }
  const visionJson = subObject(top, "vision_config", "blip_vision_model");
  const textJson = subObject(top, "text_config", "blip_text_model");

  const vision = readFields(visionJson, VISION_FIELDS, "config.json: vision_config.") as unknown as BlipVisionConfig;
  const textFields = readFields(textJson, TEXT_FIELDS, "config.json: text_config.");
  const generation = readFields(textJson, GENERATION_FIELDS, "config.json: text_config.") as unknown as BlipGenerationDefaults;
  // BlipConfig.__init__ overwrites encoder_hidden_size with the vision width, whatever the file says.
  const text = { ...textFields, encoderHiddenSize: vision.hiddenSize, generation } as unknown as BlipTextConfig;

  checkHeads("vision_config", vision.hiddenSize, vision.numAttentionHeads);
  checkHeads("text_config", text.hiddenSize, text.numAttentionHeads);
  if (vision.patchSize > vision.imageSize) {
    throw new BlipConfigError(`config.json: vision_config.patch_size ${vision.patchSize} is larger than image_size ${vision.imageSize}`);
  }
  for (const [key, id] of [["bos_token_id", text.bosTokenId], ["pad_token_id", text.padTokenId], ["sep_token_id", text.sepTokenId]] as const) {
    if (id >= text.vocabSize) throw new BlipConfigError(`config.json: text_config.${key} ${id} is outside the vocabulary (vocab_size ${text.vocabSize})`);
  }

  const architectures = top.architectures ?? null;
  if (architectures !== null && !(Array.isArray(architectures) && architectures.every((a) => typeof a === "string"))) {
    throw new BlipConfigError("config.json: architectures must be a list of class names");
  }
  const torchDtype = top.torch_dtype ?? null;
  if (torchDtype !== null && typeof torchDtype !== "string") throw new BlipConfigError("config.json: torch_dtype must be a string");

  return deepFreeze({
    ...(readFields(top, TOP_FIELDS, "config.json: ") as object),
    // 4.40's BlipConfig sets these two as constants, ignoring the file.
    initializerFactor: 1.0,
    initializerRange: 0.02,
    architectures: architectures === null ? null : [...(architectures as string[])],
    torchDtype,
    vision,
    text,
  } as BlipConfig);
}

/** Reads and parses `<folder>/config.json`. */
export function loadBlipConfig(folder: string): BlipConfig {
  const file = path.join(folder, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new BlipConfigError(`no config.json in ${folder}: point --model at a Hugging Face BLIP model folder`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BlipConfigError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parseBlipConfig(json);
  } catch (e) {
    if (e instanceof BlipConfigError) throw new BlipConfigError(e.message.replace(/^config\.json/, file));
    throw e;
  }
}

/**
 * Writes `cfg` back as a full-form HF `config.json` object (every key BLIP 4.40 reads), so that
 * checkpoints we save load in transformers.
 */
export function toHfConfigJson(cfg: BlipConfig): Record<string, unknown> {
  const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return sorted({
    ...(cfg.architectures ? { architectures: [...cfg.architectures] } : {}),
    model_type: "blip",
    ...writeFields(cfg, TOP_FIELDS),
    initializer_factor: cfg.initializerFactor,
    initializer_range: cfg.initializerRange,
    ...(cfg.torchDtype ? { torch_dtype: cfg.torchDtype } : {}),
    text_config: sorted({ model_type: "blip_text_model", ...writeFields(cfg.text, TEXT_FIELDS), ...writeFields(cfg.text.generation, GENERATION_FIELDS) }),
    vision_config: sorted({ model_type: "blip_vision_model", ...writeFields(cfg.vision, VISION_FIELDS) }),
  });
}

/** Salesforce/blip-image-captioning-base: ViT-B/16 at 384 px; its hub file gives the text decoder 12 heads. */
export function blipBase(): BlipConfig {
  return parseBlipConfig({
    architectures: ["BlipForConditionalGeneration"],
    model_type: "blip",
    projection_dim: 512,
    image_text_hidden_size: 256,
    torch_dtype: "float32",
    text_config: { num_attention_heads: 12 },
    vision_config: { initializer_range: 0.02 },
  });
}

/** Salesforce/blip-image-captioning-large: ViT-L/16 (1024 wide, 24 layers, 16 heads) at 384 px. */
export function blipLarge(): BlipConfig {
  return parseBlipConfig({
    architectures: ["BlipForConditionalGeneration"],
    model_type: "blip",
    projection_dim: 512,
    image_text_hidden_size: 256,
    torch_dtype: "float32",
    text_config: { num_attention_heads: 12 },
    vision_config: { hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, initializer_range: 0.02 },
  });
}
