// BLIP-2's Q-Former (HF `Blip2QFormerModel` of transformers 4.40) on the query path: the learned
// queries, LayerNorm'd, go through post-LN BERT layers of self-attention, cross-attention to the
// image tokens in every `cross_attention_frequency`-th layer, and the query feed-forward
// (`intermediate_query`/`output_query`). Captioning never feeds text to it, so the text path and
// its embeddings are not built.
import type { Tensor } from "../../engine/graph.js";
import * as nn from "../../engine/nn.js";
import type { Weights } from "../../engine/weights.js";
import { LayerNorm, Linear } from "../common.js";
import type { Blip2QFormerConfig } from "./config.js";

/** `dense` + residual + LayerNorm: BERT's SelfOutput and Output blocks. */
class ResidualOutput {
  private readonly dense: Linear;
  private readonly layerNorm: LayerNorm;
  constructor(inFeatures: number, cfg: Blip2QFormerConfig, vb: Weights) {
    this.dense = new Linear(inFeatures, cfg.hiddenSize, vb.at("dense")); // [hidden, in]
    this.layerNorm = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("LayerNorm")); // [hidden]
  }
  forward(x: Tensor, residual: Tensor): Tensor {
    return this.layerNorm.forwardWithResidual(this.dense.forward(x), residual);
  }
}

/** `Blip2QFormerAttention`: `attention.{query,key,value}` then the output block; self- or cross-attention. */
class QFormerAttention {
  private readonly query: Linear;
  private readonly key: Linear;
  private readonly value: Linear;
  private readonly output: ResidualOutput;
  private readonly heads: number;
  private readonly scale: number;
  /** `keyValueWidth`: the Q-Former width for self-attention, the vision width for cross-attention. */
  constructor(cfg: Blip2QFormerConfig, vb: Weights, keyValueWidth: number) {
    const h = cfg.hiddenSize;
    this.heads = cfg.numAttentionHeads;
    this.scale = (h / this.heads) ** -0.5;
    this.query = new Linear(h, h, vb.at("attention", "query")); // [hidden, hidden]
    this.key = new Linear(keyValueWidth, h, vb.at("attention", "key")); // [hidden, kv width]
    this.value = new Linear(keyValueWidth, h, vb.at("attention", "value")); // [hidden, kv width]
    this.output = new ResidualOutput(h, cfg, vb.at("output"));
  }

  /** Queries `[b, Q, hidden]` attend (unmasked) to `source` `[b, s, kv width]`: themselves, or the image tokens. */
  forward(x: Tensor, source: Tensor = x): Tensor {
    const kv = { key: this.key.forward(source), value: this.value.forward(source) };
    const { output } = nn.multiHeadAttention(this.query.forward(x), kv, { heads: this.heads, scale: this.scale });
    return this.output.forward(output, x);
  }
}

class QFormerLayer {
  private readonly attention: QFormerAttention;
  private readonly crossattention: QFormerAttention | null;
  private readonly intermediateQuery: Linear;
  private readonly act: (x: Tensor) => Tensor;
  private readonly outputQuery: ResidualOutput;
  constructor(cfg: Blip2QFormerConfig, vb: Weights, index: number) {
    this.attention = new QFormerAttention(cfg, vb.at("attention"), cfg.hiddenSize);
    const crosses = index % cfg.crossAttentionFrequency === 0;
    this.crossattention = crosses ? new QFormerAttention(cfg, vb.at("crossattention"), cfg.encoderHiddenSize) : null;
    this.intermediateQuery = new Linear(cfg.hiddenSize, cfg.intermediateSize, vb.at("intermediate_query", "dense")); // [inter, hidden]
    this.act = nn.activation(cfg.hiddenAct);
    this.outputQuery = new ResidualOutput(cfg.intermediateSize, cfg, vb.at("output_query"));
    // 4.40 has no text-path feed-forward; checkpoints written by other versions may carry one.
    for (const part of [vb.at("intermediate", "dense"), vb.at("output", "dense"), vb.at("output", "LayerNorm")]) for (const name of ["weight", "bias"]) part.ignored(name);
  }

  forward(x: Tensor, imageEmbeds: Tensor): Tensor {
    let hidden = this.attention.forward(x);
    if (this.crossattention) hidden = this.crossattention.forward(hidden, imageEmbeds);
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
