// `Blip2ForConditionalGeneration` (OPT) as graphs. The vision phase runs ViT → Q-Former over the
// learned queries → language projection. The decoder step takes those projected queries as a prefix
// of embeddings on its first call (`prefix_embeds`, zero positions afterwards), so OPT's weights live
// in one session only: a 2.7B model would otherwise hold OPT twice.
// A third graph runs a whole sequence without cache (teacher forcing).
import { Graph, type LoweringOptions, type Tensor } from "../../engine/graph.js";
import type { KeyValue } from "../../engine/nn.js";
import * as op from "../../engine/ops.js";
import type { Param } from "../../engine/graph.js";
import type { Weights } from "../../engine/weights.js";
import { Linear } from "../common.js";
import { BlipVisionModel } from "../blip/vision.js";
import type { Blip2Config } from "./config.js";
import { OptForCausalLM } from "./opt.js";
import { Blip2QFormerModel } from "./qformer.js";

/** Input/output names of the graphs. */
export const io = {
  pixelValues: "pixel_values",
  imageEmbeds: "image_embeds",
  qformerOutput: "qformer_last_hidden_state",
  languageProjection: "language_projection",
  prefixEmbeds: "prefix_embeds",
  inputIds: "input_ids",
  positionIds: "position_ids",
  mask: "attention_bias",
  pastKey: (layer: number) => `past_key_${layer}`,
  pastValue: (layer: number) => `past_value_${layer}`,
  presentKey: (layer: number) => `present_key_${layer}`,
  presentValue: (layer: number) => `present_value_${layer}`,
  logits: "logits",
} as const;

export class Blip2ForConditionalGeneration {
  readonly visionModel: BlipVisionModel;
  private readonly queryTokens: Param;
  readonly qformer: Blip2QFormerModel;
  private readonly languageProjection: Linear;
  readonly languageModel: OptForCausalLM;
  constructor(readonly cfg: Blip2Config, vb: Weights) {
    this.visionModel = new BlipVisionModel(cfg.vision, vb.at("vision_model"));
    this.queryTokens = vb.get("query_tokens", [1, cfg.numQueryTokens, cfg.qformer.hiddenSize]);
    this.qformer = new Blip2QFormerModel(cfg.qformer, vb.at("qformer"));
    this.languageProjection = new Linear(cfg.qformer.hiddenSize, cfg.text.hiddenSize, vb.at("language_projection")); // [text, qformer]
    this.languageModel = new OptForCausalLM(cfg.text, vb.at("language_model"));
  }

  /** `pixel_values [b, 3, S, S]` → `image_embeds`, `qformer_last_hidden_state [b, Q, Hq]`, `language_projection [b, Q, Ht]`. */
  visionGraph(lowering?: LoweringOptions): Graph {
    const { imageSize } = this.cfg.vision;
    const g = new Graph("blip2_vision", lowering);
    const imageEmbeds = this.visionModel.forward(g.input(io.pixelValues, "float32", ["batch", 3, imageSize, imageSize]));
    const queries = this.batchedQueries(imageEmbeds);
    const qformerOutput = this.qformer.forward(queries, imageEmbeds);
    const projected = this.languageProjection.forward(qformerOutput);
    g.output(imageEmbeds, io.imageEmbeds);
    g.output(qformerOutput, io.qformerOutput);
    g.output(projected, io.languageProjection);
    return g;
  }

  /**
   * One decoder step over `prefix` embeddings then `t` new tokens after a cache of `past` positions:
   * the first step's prefix is the projected queries, later steps' is empty (`[b, 0, Ht]`). Logits,
   * positions and the mask cover prefix + new positions.
   */
  decoderGraph(lowering?: LoweringOptions): Graph {
    const g = new Graph("blip2_language_model", lowering);
    const past: KeyValue[] = [];
    for (let i = 0; i < this.cfg.text.numHiddenLayers; i++) past.push({ key: this.cacheInput(g, io.pastKey(i)), value: this.cacheInput(g, io.pastValue(i)) });
    const prefix = g.input(io.prefixEmbeds, "float32", ["batch", "prefix", this.cfg.text.hiddenSize]);
    const ids = g.input(io.inputIds, "int64", ["batch", "new"]);
    const { logits, present } = this.languageModel.forward({
      embeds: op.concat([prefix, this.languageModel.embed(ids)], 1),
      positionIds: g.input(io.positionIds, "int64", ["batch", "positions"]),
      mask: g.input(io.mask, "float32", ["batch", 1, "positions", "total"]),
      past,
    });
    g.output(logits, io.logits);
    present.forEach((kv, i) => (g.output(kv.key, io.presentKey(i)), g.output(kv.value, io.presentValue(i))));
    return g;
  }

  /**
   * `[language_projection, embed(input_ids)]` in one pass without cache (teacher forcing):
   * logits `[b, Q + t, vocab]`; `position_ids` `[b, Q + t]` and the causal `attention_bias` are fed.
   */
  fullSequenceGraph(lowering?: LoweringOptions): Graph {
    const Q = this.cfg.numQueryTokens;
    const g = new Graph("blip2_full_sequence", lowering);
    const projected = g.input(io.languageProjection, "float32", ["batch", Q, this.cfg.text.hiddenSize]);
    const ids = g.input(io.inputIds, "int64", ["batch", "tokens"]);
    const { logits } = this.languageModel.forward({
      embeds: op.concat([projected, this.languageModel.embed(ids)], 1),
      positionIds: g.input(io.positionIds, "int64", ["batch", "sequence"]),
      mask: g.input(io.mask, "float32", ["batch", 1, "sequence", "sequence"]),
    });
    g.output(logits, io.logits);
    return g;
  }

  /** `query_tokens [1, Q, Hq]` repeated for every image of the batch. */
  private batchedQueries(imageEmbeds: Tensor): Tensor {
    const [batch] = imageEmbeds.shape;
    const [, Q, Hq] = this.queryTokens.shape as number[];
    const shape = op.concat([op.slice(op.shape(imageEmbeds), [0], [1], [0]), imageEmbeds.graph.constant([Q!, Hq!], "int64", [2])], 0);
    return op.expand(this.queryTokens, shape, [batch!, Q!, Hq!]);
  }

  private cacheInput(g: Graph, name: string): Tensor {
    const { numAttentionHeads: heads, hiddenSize } = this.cfg.text;
    return g.input(name, "float32", ["batch", heads, "past", hiddenSize / heads]);
  }
}
