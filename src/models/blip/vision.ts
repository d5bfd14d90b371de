// BLIP's vision transformer (HF `BlipVisionModel`): patch embedding, pre-LN encoder layers with a
// fused qkv projection, post-LayerNorm on every token. Mirrors `modeling_blip.py` part by part.
import type { Param, Tensor } from "../../engine/graph.js";
import { LayerNorm, Linear } from "../common.js";
import * as nn from "../../engine/nn.js";
import * as op from "../../engine/ops.js";
import type { Weights } from "../../engine/weights.js";
import type { BlipVisionConfig } from "./config.js";

/** What the ViT reads of a vision config: BLIP's fields; BLIP-2 adds `qkvBias` (absent: a bias). */
export type VitConfig = Pick<
  BlipVisionConfig, "hiddenSize" | "intermediateSize" | "numHiddenLayers" | "numAttentionHeads" | "imageSize" | "patchSize" | "hiddenAct" | "layerNormEps"
> & { readonly qkvBias?: boolean };

class VisionEmbeddings {
  private readonly classEmbedding: Param;
  private readonly patchWeight: Param;
  private readonly patchBias: Param;
  private readonly positionEmbedding: Param;
  constructor(private readonly cfg: VitConfig, vb: Weights) {
    const { hiddenSize: h, patchSize: p } = cfg;
    const positions = 1 + Math.floor(cfg.imageSize / p) ** 2;
    this.classEmbedding = vb.get("class_embedding", [1, 1, h]);
    this.patchWeight = vb.at("patch_embedding").get("weight", [h, 3, p, p]);
    this.patchBias = vb.at("patch_embedding").get("bias", [h]);
    this.positionEmbedding = vb.get("position_embedding", [1, positions, h]);
  }

  /** `[b, 3, S, S]` pixels → `[b, 1 + grid², hidden]` tokens. */
  forward(pixels: Tensor): Tensor {
    const patches = nn.conv2d(pixels, this.patchWeight, this.patchBias, this.cfg.patchSize);
    const tokens = op.transpose(op.reshape(patches, [0, 0, -1]), [0, 2, 1]);
    const cls = nn.batchOf(this.classEmbedding, tokens);
    return op.add(op.concat([cls, tokens], 1), this.positionEmbedding);
  }
}

class VisionAttention {
  private readonly qkv: Linear;
  private readonly projection: Linear;
  private readonly heads: number;
  private readonly scale: number;
  constructor(cfg: VitConfig, vb: Weights) {
    const h = cfg.hiddenSize;
    this.heads = cfg.numAttentionHeads;
    this.scale = (h / this.heads) ** -0.5;
    this.qkv = new Linear(h, 3 * h, vb.at("qkv"), cfg.qkvBias ?? true);
    this.projection = new Linear(h, h, vb.at("projection"));
  }

  forward(x: Tensor): Tensor {
    const h = x.shape[2] as number;
    const qkv = this.qkv.forward(x);
    // Output rows are ordered q | k | v, each head-contiguous.
    const [q, k, v] = [0, 1, 2].map((i) => op.slice(qkv, [i * h], [(i + 1) * h], [2]));
    return this.projection.forward(nn.multiHeadAttention(q!, { key: k!, value: v! }, { heads: this.heads, scale: this.scale }).output);
  }
}

class VisionMlp {
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: VitConfig, vb: Weights) {
    this.fc1 = new Linear(cfg.hiddenSize, cfg.intermediateSize, vb.at("fc1"));
    this.fc2 = new Linear(cfg.intermediateSize, cfg.hiddenSize, vb.at("fc2"));
    this.act = nn.activation(cfg.hiddenAct);
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act(this.fc1.forward(x)));
  }
}

class VisionEncoderLayer {
  private readonly selfAttn: VisionAttention;
  private readonly layerNorm1: LayerNorm;
  private readonly mlp: VisionMlp;
  private readonly layerNorm2: LayerNorm;
  constructor(cfg: VitConfig, vb: Weights) {
    this.selfAttn = new VisionAttention(cfg, vb.at("self_attn"));
    this.layerNorm1 = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("layer_norm1"));
    this.mlp = new VisionMlp(cfg, vb.at("mlp"));
    this.layerNorm2 = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("layer_norm2"));
  }

  forward(x: Tensor): Tensor {
    let residual = x;
    x = op.add(this.selfAttn.forward(this.layerNorm1.forward(x)), residual);
    residual = x;
    return op.add(this.mlp.forward(this.layerNorm2.forward(x)), residual);
  }
}

/** `vision_model`: pixels `[b, 3, S, S]` → `last_hidden_state [b, 1 + grid², hidden]`. */
export class BlipVisionModel {
  private readonly embeddings: VisionEmbeddings;
  private readonly layers: VisionEncoderLayer[];
  private readonly postLayernorm: LayerNorm;
  constructor(readonly cfg: VitConfig, vb: Weights) {
    this.embeddings = new VisionEmbeddings(cfg, vb.at("embeddings"));
    const layers = vb.at("encoder", "layers");
    this.layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) => new VisionEncoderLayer(cfg, layers.at(i)));
    this.postLayernorm = new LayerNorm(cfg.hiddenSize, cfg.layerNormEps, vb.at("post_layernorm"));
  }

  forward(pixels: Tensor): Tensor {
    let x = this.embeddings.forward(pixels);
    for (const layer of this.layers) x = layer.forward(x);
    return this.postLayernorm.forward(x);
  }
}
