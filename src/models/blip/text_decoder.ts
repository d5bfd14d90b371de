// BLIP's text decoder (HF `BlipTextLMHeadModel`): a post-LN BERT with causal self-attention, a
// cross-attention to the image tokens in every layer, and the LM head. The self-attention takes and
// returns its K/V cache; the cross-attention K/V are projected once per image (`projectImage`), not
// at every step as transformers 4.40 does.
import type { Param, Tensor } from "../../engine/graph.js";
import * as nn from "../../engine/nn.js";
import type { KeyValue } from "../../engine/nn.js";
import * as op from "../../engine/ops.js";
import type { Weights } from "../../engine/weights.js";
import { BertAttention, BertResidualOutput } from "../bert.js";
import { LayerNorm, Linear } from "../common.js";
import type { BlipTextConfig } from "./config.js";

export type { KeyValue };

class TextEmbeddings {
  private readonly wordEmbeddings: Param;
  private readonly positionEmbeddings: Param;
  private readonly layerNorm: LayerNorm;
  constructor(cfg: BlipTextConfig, vb: Weights) {
    this.wordEmbeddings = vb.at("word_embeddings").get("weight", [cfg.vocabSize, cfg.hiddenSize]);
    this.positionEmbeddings = vb.at("position_embeddings").get("weight", [cfg.maxPositionEmbeddings, cfg.hiddenSize]);
    this.layerNorm = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("LayerNorm"));
  }
  forward(inputIds: Tensor, positionIds: Tensor): Tensor {
    const x = op.add(nn.embedding(this.wordEmbeddings, inputIds), nn.embedding(this.positionEmbeddings, positionIds));
    return this.layerNorm.forward(x);
  }
}

/**
 * Causal self-attention over a K/V cache, cross-attention to image K/V projected once per image
 * (`projectImage`), then the feed-forward.
 */
class TextLayer {
  private readonly attention: BertAttention;
  private readonly crossattention: BertAttention;
  private readonly intermediate: Linear;
  private readonly act: (x: Tensor) => Tensor;
  private readonly output: BertResidualOutput;
  constructor(cfg: BlipTextConfig, vb: Weights) {
    this.attention = new BertAttention(cfg, vb.at("attention"), cfg.hiddenSize, "self");
    this.crossattention = new BertAttention(cfg, vb.at("crossattention"), cfg.encoderHiddenSize, "self");
    this.intermediate = new Linear(cfg.hiddenSize, cfg.intermediateSize, vb.at("intermediate", "dense"));
    this.act = nn.activation(cfg.hiddenAct);
    this.output = new BertResidualOutput(cfg.intermediateSize, cfg, vb.at("output"));
  }

  /** Image tokens `[b, s, visionHidden]` → this layer's cross-attention K/V `[b, heads, s, headDim]`. */
  projectImage(imageEmbeds: Tensor): KeyValue {
    return this.crossattention.splitKeyValue(imageEmbeds);
  }

  /**
   * `mask` is the additive causal mask `[b, 1, t, past + t]`; without `past` (a whole teacher-forced
   * sequence, training) it may also block padding.
   */
  forward(x: Tensor, past: KeyValue | undefined, mask: Tensor, image: KeyValue): { hidden: Tensor; present?: KeyValue } {
    const { hidden, present } = this.attention.attend(x, this.attention.keyValue(x), { past, mask, causal: past !== undefined });
    const attended = this.crossattention.attend(hidden, image).hidden;
    return { hidden: this.output.forward(this.act(this.intermediate.forward(attended)), attended), present };
  }
}

/** `cls.predictions`: transform (dense, act, LayerNorm) then the vocabulary projection. */
class LmPredictionHead {
  private readonly dense: Linear;
  private readonly act: (x: Tensor) => Tensor;
  private readonly layerNorm: LayerNorm;
  private readonly decoder: Linear;
  private readonly bias: Param;
  constructor(cfg: BlipTextConfig, vb: Weights) {
    this.dense = new Linear(cfg.hiddenSize, cfg.hiddenSize, vb.at("transform", "dense"));
    this.act = nn.activation(cfg.hiddenAct);
    this.layerNorm = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("transform", "LayerNorm"));
    this.decoder = new Linear(cfg.hiddenSize, cfg.vocabSize, vb.at("decoder"), false);
    this.bias = vb.get("bias", [cfg.vocabSize]);
    vb.at("decoder").tied("bias"); // HF aliases decoder.bias to this bias; old files store both
  }
  forward(x: Tensor): Tensor {
    return op.add(this.decoder.forward(this.layerNorm.forward(this.act(this.dense.forward(x)))), this.bias);
  }
}

/**
 * Inputs of one decoder step; `past`, `image` have one entry per layer. Without `past` the step is a
 * whole sequence with no cache (training), and `mask` is any additive mask (causal + padding).
 */
export interface DecoderStepInputs {
  inputIds: Tensor;
  positionIds: Tensor;
  mask: Tensor;
  past?: KeyValue[];
  image: KeyValue[];
}

/** `text_decoder`: token ids + caches → logits `[b, t, vocab]` and the grown self-attention caches. */
export class BlipTextLMHeadModel {
  private readonly embeddings: TextEmbeddings;
  readonly layers: TextLayer[];
  private readonly head: LmPredictionHead;
  constructor(readonly cfg: BlipTextConfig, vb: Weights) {
    this.embeddings = new TextEmbeddings(cfg, vb.at("bert", "embeddings"));
    const layers = vb.at("bert", "encoder", "layer");
    this.layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) => new TextLayer(cfg, layers.at(i)));
    this.head = new LmPredictionHead(cfg, vb.at("cls", "predictions"));
  }

  /** Each layer's cross-attention K/V for the image tokens (run once per image). */
  projectImage(imageEmbeds: Tensor): KeyValue[] {
    return this.layers.map((layer) => layer.projectImage(imageEmbeds));
  }

  forward(inputs: DecoderStepInputs): { logits: Tensor; present: KeyValue[] } {
    let x = this.embeddings.forward(inputs.inputIds, inputs.positionIds);
    const present: KeyValue[] = [];
    this.layers.forEach((layer, i) => {
      const out = layer.forward(x, inputs.past?.[i], inputs.mask, inputs.image[i]!);
      x = out.hidden;
      if (out.present) present.push(out.present);
    });
    return { logits: this.head.forward(x), present };
  }
}
