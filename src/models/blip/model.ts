// `BlipForConditionalGeneration` as two graphs: the vision phase (image → image tokens and every
// decoder layer's cross-attention K/V, once per image) and the decoder step (new tokens + caches →
// logits + grown caches). The names of their inputs and outputs are the typed contract in `io`.
import { Graph, type LoweringOptions, type Tensor } from "../../engine/graph.js";
import type { Weights } from "../../engine/weights.js";
import type { BlipConfig } from "./config.js";
import { BlipTextLMHeadModel, type KeyValue } from "./text_decoder.js";
import { BlipVisionModel } from "./vision.js";

/** Input/output names of the two graphs. */
export const io = {
  pixelValues: "pixel_values",
  imageEmbeds: "image_embeds",
  crossKey: (layer: number) => `cross_key_${layer}`,
  crossValue: (layer: number) => `cross_value_${layer}`,
  inputIds: "input_ids",
  positionIds: "position_ids",
  mask: "attention_bias",
  pastKey: (layer: number) => `past_key_${layer}`,
  pastValue: (layer: number) => `past_value_${layer}`,
  presentKey: (layer: number) => `present_key_${layer}`,
  presentValue: (layer: number) => `present_value_${layer}`,
  logits: "logits",
} as const;

export class BlipForConditionalGeneration {
  readonly visionModel: BlipVisionModel;
  readonly textDecoder: BlipTextLMHeadModel;
  constructor(readonly cfg: BlipConfig, vb: Weights) {
    this.visionModel = new BlipVisionModel(cfg.vision, vb.at("vision_model"));
    this.textDecoder = new BlipTextLMHeadModel(cfg.text, vb.at("text_decoder"));
  }

  /** `pixel_values [b, 3, S, S]` → `image_embeds` and `cross_key_i`/`cross_value_i` `[b, heads, tokens, headDim]`. */
  visionGraph(lowering?: LoweringOptions): Graph {
    const { imageSize } = this.cfg.vision;
    const g = new Graph("blip_vision", lowering);
    const imageEmbeds = this.visionModel.forward(g.input(io.pixelValues, "float32", ["batch", 3, imageSize, imageSize]));
    g.output(imageEmbeds, io.imageEmbeds);
    this.textDecoder.projectImage(imageEmbeds).forEach((kv, i) => {
      g.output(kv.key, io.crossKey(i));
      g.output(kv.value, io.crossValue(i));
    });
    return g;
  }

  /** One decoder step over `t` new tokens with a self-attention cache of `past` tokens. */
  decoderGraph(lowering?: LoweringOptions): Graph {
    const text = this.cfg.text;
    const heads = text.numAttentionHeads;
    const headDim = text.hiddenSize / heads;
    const g = new Graph("blip_text_decoder", lowering);
    const cache = (name: string, len: string): Tensor => g.input(name, "float32", ["batch", heads, len, headDim]);
    const layers = text.numHiddenLayers;
    const past: KeyValue[] = [];
    const image: KeyValue[] = [];
    for (let i = 0; i < layers; i++) {
      past.push({ key: cache(io.pastKey(i), "past"), value: cache(io.pastValue(i), "past") });
      image.push({ key: cache(io.crossKey(i), "image_tokens"), value: cache(io.crossValue(i), "image_tokens") });
    }
    const { logits, present } = this.textDecoder.forward({
      inputIds: g.input(io.inputIds, "int64", ["batch", "new"]),
      positionIds: g.input(io.positionIds, "int64", ["batch", "new"]),
      mask: g.input(io.mask, "float32", ["batch", 1, "new", "total"]),
      past,
      image,
    });
    g.output(logits, io.logits);
    present.forEach((kv, i) => {
      g.output(kv.key, io.presentKey(i));
      g.output(kv.value, io.presentValue(i));
    });
    return g;
  }
}
