// BLIP-2 configuration (`Blip2Config` of transformers 4.40): the ViT, the Q-Former and an OPT
// language model as three typed, read-only sub-configs parsed from `config.json` with 4.40's
// defaults for omitted keys (diff-only files), plus the preset of Salesforce/blip2-opt-2.7b.
// Every field is declared once in a table, so parsing and writing back cannot drift apart.
import * as fs from "node:fs";
import * as path from "node:path";
import type { CheckpointGenerationConfig } from "../caption_model.js";
import {
  checkHeads, ConfigError, deepFreeze, type Field, GENERATION_FIELDS, readFields, subObject, writeFields,
} from "../config_fields.js";

/** A config.json that is not a BLIP-2 (OPT) config or has a bad value; the message names the key to fix. */
export class Blip2ConfigError extends ConfigError {
  override name = "Blip2ConfigError";
}

/** The ViT (`vision_config`): BLIP's, with LayerNorm eps 1e-6 and a q|0|v bias stored as one `qkv.bias`. */
export interface Blip2VisionConfig {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly hiddenAct: string;
  readonly layerNormEps: number;
  readonly attentionDropout: number;
  readonly initializerRange: number;
  readonly qkvBias: boolean;
}

/** The Q-Former (`qformer_config`): a BERT encoder over learned query tokens. */
export interface Blip2QFormerConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: string;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly maxPositionEmbeddings: number;
  readonly initializerRange: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
  readonly positionEmbeddingType: string;
  /** Layers `i` with `i % crossAttentionFrequency == 0` cross-attend to the image. */
  readonly crossAttentionFrequency: number;
  /** Width of the image tokens; always the vision hidden size (Blip2Config overwrites it). */
  readonly encoderHiddenSize: number;
}

/** The OPT language model (`text_config`, `OPTConfig`). */
export interface OptConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly ffnDim: number;
  readonly maxPositionEmbeddings: number;
  readonly doLayerNormBefore: boolean;
  readonly removeFinalLayerNorm: boolean;
  readonly wordEmbedProjDim: number;
  readonly dropout: number;
  readonly attentionDropout: number;
  readonly numAttentionHeads: number;
  readonly activationFunction: string;
  readonly layerdrop: number;
  readonly initStd: number;
  readonly useCache: boolean;
  readonly enableBias: boolean;
  readonly layerNormElementwiseAffine: boolean;
  readonly tieWordEmbeddings: boolean;
  /** Prepended to every output row by BLIP-2's generate(), and the start token without a prompt. */
  readonly bosTokenId: number;
  /** Generation stops on these (the real checkpoints: 50118, a newline). */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly generation: CheckpointGenerationConfig;
}

export interface Blip2Config {
  readonly vision: Blip2VisionConfig;
  readonly qformer: Blip2QFormerConfig;
  readonly text: OptConfig;
  readonly numQueryTokens: number;
  readonly initializerFactor: number;
  readonly initializerRange: number;
  readonly architectures: readonly string[] | null;
  readonly torchDtype: string | null;
}

const VISION_FIELDS: readonly Field[] = [
  ["hiddenSize", "hidden_size", "posInt", 1408],
  ["intermediateSize", "intermediate_size", "posInt", 6144],
  ["numHiddenLayers", "num_hidden_layers", "posInt", 39],
  ["numAttentionHeads", "num_attention_heads", "posInt", 16],
  ["imageSize", "image_size", "posInt", 224],
  ["patchSize", "patch_size", "posInt", 14],
  ["hiddenAct", "hidden_act", "act", "gelu"],
  ["layerNormEps", "layer_norm_eps", "posNumber", 1e-6],
  ["attentionDropout", "attention_dropout", "prob", 0.0],
  ["initializerRange", "initializer_range", "nonNegNumber", 1e-10],
  ["qkvBias", "qkv_bias", "bool", true],
];

const QFORMER_FIELDS: readonly Field[] = [
  ["vocabSize", "vocab_size", "posInt", 30522],
  ["hiddenSize", "hidden_size", "posInt", 768],
  ["numHiddenLayers", "num_hidden_layers", "posInt", 12],
  ["numAttentionHeads", "num_attention_heads", "posInt", 12],
  ["intermediateSize", "intermediate_size", "posInt", 3072],
  ["hiddenAct", "hidden_act", "act", "gelu"],
  ["hiddenDropoutProb", "hidden_dropout_prob", "prob", 0.1],
  ["attentionProbsDropoutProb", "attention_probs_dropout_prob", "prob", 0.1],
  ["maxPositionEmbeddings", "max_position_embeddings", "posInt", 512],
  ["initializerRange", "initializer_range", "nonNegNumber", 0.02],
  ["layerNormEps", "layer_norm_eps", "posNumber", 1e-12],
  ["padTokenId", "pad_token_id", "tokenId", 0],
  ["crossAttentionFrequency", "cross_attention_frequency", "posInt", 2],
  ["encoderHiddenSize", "encoder_hidden_size", "posInt", 1408],
];

const TEXT_FIELDS: readonly Field[] = [
  ["vocabSize", "vocab_size", "posInt", 50272],
  ["hiddenSize", "hidden_size", "posInt", 768],
  ["numHiddenLayers", "num_hidden_layers", "posInt", 12],
  ["ffnDim", "ffn_dim", "posInt", 3072],
  ["maxPositionEmbeddings", "max_position_embeddings", "posInt", 2048],
  ["doLayerNormBefore", "do_layer_norm_before", "bool", true],
  ["removeFinalLayerNorm", "_remove_final_layer_norm", "bool", false],
  ["dropout", "dropout", "prob", 0.1],
  ["attentionDropout", "attention_dropout", "prob", 0.0],
  ["numAttentionHeads", "num_attention_heads", "posInt", 12],
  ["activationFunction", "activation_function", "act", "relu"],
  ["layerdrop", "layerdrop", "prob", 0.0],
  ["initStd", "init_std", "nonNegNumber", 0.02],
  ["useCache", "use_cache", "bool", true],
  ["enableBias", "enable_bias", "bool", true],
  ["layerNormElementwiseAffine", "layer_norm_elementwise_affine", "bool", true],
  ["tieWordEmbeddings", "tie_word_embeddings", "bool", true],
  ["bosTokenId", "bos_token_id", "tokenId", 2],
  ["padTokenId", "pad_token_id", "tokenIdOrNull", 1],
];

const TOP_FIELDS: readonly Field[] = [["numQueryTokens", "num_query_tokens", "posInt", 32]];

const read = (src: Record<string, unknown>, fields: readonly Field[], where: string) => readFields(src, fields, `config.json: ${where}`, Blip2ConfigError);

/**
 * Parses a BLIP-2 `config.json` object into a deep-frozen Blip2Config with transformers 4.40's
 * defaults; the Q-Former's `encoderHiddenSize` is the vision width, as Blip2Config sets it.
 */
export function parseBlip2Config(json: unknown): Blip2Config {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Blip2ConfigError("config.json must be a JSON object");
  const top = json as Record<string, unknown>;
  if (top.model_type !== "blip-2") throw new Blip2ConfigError(`config.json has model_type ${JSON.stringify(top.model_type ?? null)}, not "blip-2"`);
  const textJson = top.text_config as Record<string, unknown> | undefined;
  if (textJson?.model_type !== undefined && textJson.model_type !== "opt") {
    throw new Blip2ConfigError(`config.json: text_config.model_type ${JSON.stringify(textJson.model_type)} is not supported; captioner runs BLIP-2 with an OPT language model ("opt")`);
  }
  const visionSrc = subObject(top, "vision_config", "blip_2_vision_model", Blip2ConfigError);
  const qformerSrc = subObject(top, "qformer_config", "blip_2_qformer", Blip2ConfigError);
  const textSrc = subObject(top, "text_config", "opt", Blip2ConfigError);

  const vision = read(visionSrc, VISION_FIELDS, "vision_config.") as unknown as Blip2VisionConfig;
  // Blip2Config.__init__ overwrites encoder_hidden_size with the vision width, whatever the file says.
  const qformer = { ...read(qformerSrc, QFORMER_FIELDS, "qformer_config."), encoderHiddenSize: vision.hiddenSize, positionEmbeddingType: "absolute" } as unknown as Blip2QFormerConfig;
  const text = parseOpt(textSrc);

  checkHeads("vision_config", vision.hiddenSize, vision.numAttentionHeads, Blip2ConfigError);
  checkHeads("qformer_config", qformer.hiddenSize, qformer.numAttentionHeads, Blip2ConfigError);
  checkHeads("text_config", text.hiddenSize, text.numAttentionHeads, Blip2ConfigError);
  if (vision.patchSize > vision.imageSize) {
    throw new Blip2ConfigError(`config.json: vision_config.patch_size ${vision.patchSize} is larger than image_size ${vision.imageSize}`);
  }
  const type = qformerSrc.position_embedding_type;
  if (type !== undefined && type !== "absolute") throw new Blip2ConfigError(`config.json: qformer_config.position_embedding_type ${JSON.stringify(type)} is not supported (only "absolute")`);

  const architectures = top.architectures ?? null;
  if (architectures !== null && !(Array.isArray(architectures) && architectures.every((a) => typeof a === "string"))) {
    throw new Blip2ConfigError("config.json: architectures must be a list of class names");
  }
  const torchDtype = top.torch_dtype ?? null;
  if (torchDtype !== null && typeof torchDtype !== "string") throw new Blip2ConfigError("config.json: torch_dtype must be a string");
  return deepFreeze({
    ...(read(top, TOP_FIELDS, "") as object),
    // 4.40's Blip2Config sets these two as constants.
    initializerFactor: 1.0,
    initializerRange: 0.02,
    architectures: architectures === null ? null : [...(architectures as string[])],
    torchDtype,
    vision,
    qformer,
    text,
  } as Blip2Config);
}

function parseOpt(src: Record<string, unknown>): OptConfig {
  const fields = read(src, TEXT_FIELDS, "text_config.");
  const hidden = fields.hiddenSize as number;
  const projDim = src.word_embed_proj_dim ?? hidden;
  const eos = read(src, [["eos", "eos_token_id", "tokenIds", 2]], "text_config.").eos as number | number[];
  const generation = read(src, GENERATION_FIELDS, "text_config.") as unknown as CheckpointGenerationConfig;
  const text = { ...fields, wordEmbedProjDim: projDim, eosTokenIds: [eos].flat(), generation } as unknown as OptConfig;
  // Variants no BLIP-2 checkpoint uses (opt-350m's projections and post-LN) are refused, not guessed.
  if (projDim !== hidden) throw new Blip2ConfigError(`config.json: text_config.word_embed_proj_dim ${JSON.stringify(projDim)} differs from hidden_size ${hidden}; OPT's project_in/project_out are not supported`);
  if (!text.doLayerNormBefore) throw new Blip2ConfigError("config.json: text_config.do_layer_norm_before false (post-LN OPT) is not supported");
  if (!text.layerNormElementwiseAffine) throw new Blip2ConfigError("config.json: text_config.layer_norm_elementwise_affine false is not supported");
  for (const [key, id] of [["bos_token_id", text.bosTokenId], ["pad_token_id", text.padTokenId ?? 0], ...text.eosTokenIds.map((e) => ["eos_token_id", e] as const)] as const) {
    if (id >= text.vocabSize) throw new Blip2ConfigError(`config.json: text_config.${key} ${id} is outside the vocabulary (vocab_size ${text.vocabSize})`);
  }
  return text;
}

/** Reads and parses `<folder>/config.json`. */
export function loadBlip2Config(folder: string): Blip2Config {
  const file = path.join(folder, "config.json");
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Blip2ConfigError(`${file} cannot be read as JSON: ${(e as Error).message}`);
  }
  try {
    return parseBlip2Config(json);
  } catch (e) {
    if (e instanceof Blip2ConfigError) throw new Blip2ConfigError(e.message.replace(/^config\.json/, file));
    throw e;
  }
}

/** `cfg` as a full-form HF `config.json` object (every key the 4.40 classes read). */
export function toHfBlip2ConfigJson(cfg: Blip2Config): Record<string, unknown> {
  const { eosTokenIds, wordEmbedProjDim } = cfg.text;
  return {
    ...(cfg.architectures ? { architectures: [...cfg.architectures] } : {}),
    model_type: "blip-2",
    ...writeFields(cfg, TOP_FIELDS),
    initializer_factor: cfg.initializerFactor,
    initializer_range: cfg.initializerRange,
    ...(cfg.torchDtype ? { torch_dtype: cfg.torchDtype } : {}),
    use_decoder_only_language_model: true,
    vision_config: { model_type: "blip_2_vision_model", ...writeFields(cfg.vision, VISION_FIELDS) },
    qformer_config: { model_type: "blip_2_qformer", ...writeFields(cfg.qformer, QFORMER_FIELDS), position_embedding_type: "absolute" },
    text_config: {
      model_type: "opt",
      ...writeFields(cfg.text, TEXT_FIELDS),
      word_embed_proj_dim: wordEmbedProjDim,
      eos_token_id: eosTokenIds.length === 1 ? eosTokenIds[0] : [...eosTokenIds],
      ...writeFields(cfg.text.generation, GENERATION_FIELDS),
    },
  };
}

/** Salesforce/blip2-opt-2.7b: EVA ViT-g (1408 wide, 39 layers) at 224 px, 32 queries, OPT-2.7b stopping on "\n". */
export function blip2Opt27b(): Blip2Config {
  return parseBlip2Config({
    architectures: ["Blip2ForConditionalGeneration"],
    model_type: "blip-2",
    num_query_tokens: 32,
    torch_dtype: "float32",
    qformer_config: {},
    vision_config: {},
    text_config: {
      model_type: "opt", architectures: ["OPTForCausalLM"], hidden_size: 2560, ffn_dim: 10240, num_hidden_layers: 32,
      num_attention_heads: 32, word_embed_proj_dim: 2560, eos_token_id: 50118, vocab_size: 50272, max_position_embeddings: 2048,
    },
  });
}
