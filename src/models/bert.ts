// The post-LN BERT blocks that BLIP's text decoder and BLIP-2's Q-Former share: the attention (its
// query/key/value projections and output block) and the dense + residual + LayerNorm block. HF names
// them alike except where the projections sit: `attention.self.*` (BLIP) vs `attention.attention.*`.
import type { Tensor } from "../engine/graph.js";
import * as nn from "../engine/nn.js";
import type { AttentionOptions, KeyValue } from "../engine/nn.js";
import type { Weights } from "../engine/weights.js";
import { LayerNorm, Linear } from "./common.js";

/** What these blocks read from a BERT-style config (BLIP text, Q-Former). */
export interface BertDims {
  readonly hiddenSize: number;
  readonly numAttentionHeads: number;
  readonly layerNormEps: number;
}

/** `dense` + residual + LayerNorm: BERT's SelfOutput and Output blocks. */
export class BertResidualOutput {
  private readonly dense: Linear;
  private readonly layerNorm: LayerNorm;
  constructor(inFeatures: number, cfg: BertDims, vb: Weights) {
    this.dense = new Linear(inFeatures, cfg.hiddenSize, vb.at("dense")); // [hidden, in]
    this.layerNorm = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("LayerNorm")); // [hidden]
  }
  forward(x: Tensor, residual: Tensor): Tensor {
    return this.layerNorm.forwardWithResidual(this.dense.forward(x), residual);
  }
}

/**
 * BERT attention, self or cross: `new BertAttention(cfg, vb.at("attention"), cfg.hiddenSize, "self")`.
 * `keyValueWidth` is the model width for self-attention, the image width for cross-attention;
 * `projections` is where query/key/value sit under `vb`.
 */
export class BertAttention {
  private readonly query: Linear;
  private readonly key: Linear;
  private readonly value: Linear;
  private readonly output: BertResidualOutput;
  private readonly heads: number;
  private readonly scale: number;
  constructor(cfg: BertDims, vb: Weights, keyValueWidth: number, projections: string) {
    const h = cfg.hiddenSize;
    this.heads = cfg.numAttentionHeads;
    this.scale = (h / this.heads) ** -0.5;
    this.query = new Linear(h, h, vb.at(projections, "query")); // [hidden, hidden]
    this.key = new Linear(keyValueWidth, h, vb.at(projections, "key")); // [hidden, kv width]
    this.value = new Linear(keyValueWidth, h, vb.at(projections, "value")); // [hidden, kv width]
    this.output = new BertResidualOutput(h, cfg, vb.at("output"));
  }

  /** Keys and values of `source` `[b, s, kv width]`, `[b, s, hidden]` each. */
  keyValue(source: Tensor): KeyValue {
    return { key: this.key.forward(source), value: this.value.forward(source) };
  }

  /** Keys and values split into heads `[b, heads, s, headDim]`: an image's, projected once and cached. */
  splitKeyValue(source: Tensor): KeyValue {
    const { key, value } = this.keyValue(source);
    return { key: nn.splitHeads(key, this.heads), value: nn.splitHeads(value, this.heads) };
  }

  /** `x` `[b, t, hidden]` attends to `kv` (from `keyValue` or `splitKeyValue`); the output block adds x back. */
  attend(x: Tensor, kv: KeyValue, opts: Pick<AttentionOptions, "past" | "mask" | "causal"> = {}): { hidden: Tensor; present?: KeyValue } {
    const { output, present } = nn.multiHeadAttention(this.query.forward(x), kv, { heads: this.heads, scale: this.scale, ...opts });
    return { hidden: this.output.forward(output, x), present };
  }
}
