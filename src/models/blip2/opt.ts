// The OPT language model of BLIP-2 (HF `OPTForCausalLM` of transformers 4.40): token embeddings plus
// learned positions (offset 2), pre-LN decoder layers (causal self-attention with q scaled by
// head_dim^-0.5, ReLU MLP), a final LayerNorm, and an LM head tied to the token embeddings. The
// decoder takes embeddings, not ids, because BLIP-2 puts the projected queries in front of the tokens;
// the self-attention takes and returns its K/V cache.
import type { Param, Tensor } from "../../engine/graph.js";
import * as nn from "../../engine/nn.js";
import type { KeyValue } from "../../engine/nn.js";
import * as op from "../../engine/ops.js";
import type { Weights } from "../../engine/weights.js";
import { LayerNorm, Linear } from "../common.js";
import type { OptConfig } from "./config.js";

/** OPT's position table has two extra rows: position p is row p + 2 (a fairseq legacy). */
const POSITION_OFFSET = 2;
/** nn.LayerNorm's default: OPT passes no eps. */
const OPT_LAYER_NORM_EPS = 1e-5;

/** `embed_positions`: 0-based positions `[b, t]` (int64) → `[b, t, hidden]`. */
class OptLearnedPositionalEmbedding {
  private readonly weight: Param;
  constructor(cfg: OptConfig, vb: Weights) {
    this.weight = vb.get("weight", [cfg.maxPositionEmbeddings + POSITION_OFFSET, cfg.hiddenSize]);
  }
  forward(positions: Tensor): Tensor {
    return nn.embedding(this.weight, op.add(positions, op.scalar(positions, POSITION_OFFSET)));
  }
}

class OptAttention {
  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly outProj: Linear;
  private readonly heads: number;
  private readonly scale: number;
  constructor(cfg: OptConfig, vb: Weights) {
    const h = cfg.hiddenSize;
    this.heads = cfg.numAttentionHeads;
    this.scale = (h / this.heads) ** -0.5;
    this.qProj = new Linear(h, h, vb.at("q_proj"), cfg.enableBias); // [hidden, hidden]
    this.kProj = new Linear(h, h, vb.at("k_proj"), cfg.enableBias);
    this.vProj = new Linear(h, h, vb.at("v_proj"), cfg.enableBias);
    this.outProj = new Linear(h, h, vb.at("out_proj"), cfg.enableBias);
  }

  /** Causal self-attention after `past` (`mask`: the additive causal mask); returns the grown cache. */
  forward(x: Tensor, past: KeyValue | undefined, mask: Tensor): { hidden: Tensor; present: KeyValue } {
    const key = this.kProj.forward(x);
    const value = this.vProj.forward(x);
    const { output, present } = nn.multiHeadAttention(this.qProj.forward(x), { key, value }, { heads: this.heads, scale: this.scale, past, mask, causal: true });
    // Without a past the whole cache is this call's keys and values.
    const cache = present ?? { key: nn.splitHeads(key, this.heads), value: nn.splitHeads(value, this.heads) };
    return { hidden: this.outProj.forward(output), present: cache };
  }
}

class OptDecoderLayer {
  private readonly selfAttn: OptAttention;
  private readonly selfAttnLayerNorm: LayerNorm;
  private readonly fc1: Linear;
  private readonly act: (x: Tensor) => Tensor;
  private readonly fc2: Linear;
  private readonly finalLayerNorm: LayerNorm;
  constructor(cfg: OptConfig, vb: Weights) {
    this.selfAttn = new OptAttention(cfg, vb.at("self_attn"));
    this.selfAttnLayerNorm = new LayerNorm(cfg.hiddenSize, OPT_LAYER_NORM_EPS, vb.at("self_attn_layer_norm")); // [hidden]
    this.fc1 = new Linear(cfg.hiddenSize, cfg.ffnDim, vb.at("fc1"), cfg.enableBias); // [ffn, hidden]
    this.act = nn.activation(cfg.activationFunction);
    this.fc2 = new Linear(cfg.ffnDim, cfg.hiddenSize, vb.at("fc2"), cfg.enableBias); // [hidden, ffn]
    this.finalLayerNorm = new LayerNorm(cfg.hiddenSize, OPT_LAYER_NORM_EPS, vb.at("final_layer_norm")); // [hidden]
  }

  forward(x: Tensor, past: KeyValue | undefined, mask: Tensor): { hidden: Tensor; present: KeyValue } {
    let residual = x;
    const attended = this.selfAttn.forward(this.selfAttnLayerNorm.forward(x), past, mask);
    x = op.add(residual, attended.hidden);
    residual = x;
    x = op.add(residual, this.fc2.forward(this.act(this.fc1.forward(this.finalLayerNorm.forward(x)))));
    return { hidden: x, present: attended.present };
  }
}

/** Inputs of one decoder pass; `past` has one entry per layer (absent: a whole sequence from position 0). */
export interface OptInputs {
  /** `[b, t, hidden]`: token embeddings (`embed()`), or BLIP-2's projected queries. */
  embeds: Tensor;
  /** 0-based positions `[b, t]`, int64. */
  positionIds: Tensor;
  /** Additive causal mask `[b, 1, t, past + t]`. */
  mask: Tensor;
  past?: KeyValue[];
}

/** `language_model`: embeddings + caches → logits `[b, t, vocab]` and the grown caches. */
export class OptForCausalLM {
  private readonly embedTokens: Param;
  private readonly embedPositions: OptLearnedPositionalEmbedding;
  private readonly layers: OptDecoderLayer[];
  private readonly finalLayerNorm: LayerNorm | null;
  private readonly lmHead: Param;
  constructor(readonly cfg: OptConfig, vb: Weights) {
    const decoder = vb.at("model", "decoder");
    this.embedTokens = decoder.at("embed_tokens").get("weight", [cfg.vocabSize, cfg.hiddenSize]);
    this.embedPositions = new OptLearnedPositionalEmbedding(cfg, decoder.at("embed_positions"));
    this.layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) => new OptDecoderLayer(cfg, decoder.at("layers", i)));
    this.finalLayerNorm = cfg.removeFinalLayerNorm ? null : new LayerNorm(cfg.hiddenSize, OPT_LAYER_NORM_EPS, decoder.at("final_layer_norm"));
    // Tied (the default): the file leaves lm_head out or stores a copy of the embeddings.
    this.lmHead = cfg.tieWordEmbeddings ? this.embedTokens : vb.at("lm_head").get("weight", [cfg.vocabSize, cfg.hiddenSize]);
    if (cfg.tieWordEmbeddings) vb.at("lm_head").tied("weight");
  }

  /** Token ids `[b, t]` → `[b, t, hidden]`. */
  embed(ids: Tensor): Tensor {
    return nn.embedding(this.embedTokens, ids);
  }

  forward(inputs: OptInputs): { logits: Tensor; present: KeyValue[] } {
    const { hidden, present } = this.decode(inputs);
    return { logits: this.head(hidden), present };
  }

  /** The LM head: hidden states `[b, t, hidden]` → logits `[b, t, vocab]`. */
  head(hidden: Tensor): Tensor {
    return nn.linear(hidden, this.lmHead, null);
  }

  /** The decoder alone: last hidden state `[b, t, hidden]` and each layer's grown cache. */
  decode(inputs: OptInputs): { hidden: Tensor; present: KeyValue[] } {
    let x = op.add(inputs.embeds, this.embedPositions.forward(inputs.positionIds));
    const present: KeyValue[] = [];
    this.layers.forEach((layer, i) => {
      const out = layer.forward(x, inputs.past?.[i], inputs.mask);
      x = out.hidden;
      present.push(out.present);
    });
    return { hidden: this.finalLayerNorm ? this.finalLayerNorm.forward(x) : x, present };
  }
}
