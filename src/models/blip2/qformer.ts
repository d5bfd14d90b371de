// BLIP-2's Q-Former (HF `Blip2QFormerModel` of transformers 4.40) on the query path: the learned
// queries, LayerNorm'd, go through post-LN BERT layers of self-attention, cross-attention to the
// image tokens in every `cross_attention_frequency`-th layer, and the query feed-forward
// (`intermediate_query`/`output_query`). Captioning never feeds text to it, so the text path and
// its embeddings are not built.
import type { Tensor } from "../../engine/graph.js";
import * as nn from "../../engine/nn.js";
import type { Weights } from "../../engine/weights.js";
import { BertAttention, BertResidualOutput } from "../bert.js";
import { LayerNorm, Linear } from "../common.js";
import type { Blip2QFormerConfig } from "./config.js";

class QFormerLayer {
  private readonly attention: BertAttention;
  private readonly crossattention: BertAttention | null;
  private readonly intermediateQuery: Linear;
  private readonly act: (x: Tensor) => Tensor;
  private readonly outputQuery: BertResidualOutput;
  constructor(cfg: Blip2QFormerConfig, vb: Weights, index: number) {
    this.attention = new BertAttention(cfg, vb.at("attention"), cfg.hiddenSize, "attention");
    const crosses = index % cfg.crossAttentionFrequency === 0;
    this.crossattention = crosses ? new BertAttention(cfg, vb.at("crossattention"), cfg.encoderHiddenSize, "attention") : null;
    this.intermediateQuery = new Linear(cfg.hiddenSize, cfg.intermediateSize, vb.at("intermediate_query", "dense")); // [inter, hidden]
    this.act = nn.activation(cfg.hiddenAct);
    this.outputQuery = new BertResidualOutput(cfg.intermediateSize, cfg, vb.at("output_query"));
    // 4.40 has no text-path feed-forward; checkpoints written by other versions may carry one.
    for (const part of [vb.at("intermediate", "dense"), vb.at("output", "dense"), vb.at("output", "LayerNorm")]) for (const name of ["weight", "bias"]) part.ignored(name);
  }

  forward(x: Tensor, imageEmbeds: Tensor): Tensor {
    // Queries `[b, Q, hidden]` attend (unmasked) to themselves, then to the image tokens.
    let hidden = this.attention.attend(x, this.attention.keyValue(x)).hidden;
    if (this.crossattention) hidden = this.crossattention.attend(hidden, this.crossattention.keyValue(imageEmbeds)).hidden;
    return this.outputQuery.forward(this.act(this.intermediateQuery.forward(hidden)), hidden);
  }
}

/** `qformer`: query tokens `[b, Q, hidden]` and image tokens `[b, s, vision]` → `last_hidden_state [b, Q, hidden]`. */
export class Blip2QFormerModel {
  private readonly layernorm: LayerNorm;
  private readonly layers: QFormerLayer[];
  constructor(readonly cfg: Blip2QFormerConfig, vb: Weights) {
    this.layernorm = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("layernorm")); // [hidden]
    const layers = vb.at("encoder", "layer");
    this.layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) => new QFormerLayer(cfg, layers.at(i), i));
  }

  forward(queries: Tensor, imageEmbeds: Tensor): Tensor {
    let x = this.layernorm.forward(queries);
    for (const layer of this.layers) x = layer.forward(x, imageEmbeds);
    return x;
  }
}
