// Layers shared by every model family: PyTorch's Linear and LayerNorm, with HF weight names.
import type { Param, Tensor } from "../engine/graph.js";
import * as nn from "../engine/nn.js";
import type { Weights } from "../engine/weights.js";

/** A PyTorch Linear layer: `weight [out, in]`, `bias [out]`. */
export class Linear {
  readonly weight: Param;
  readonly bias: Param | null;
  constructor(inFeatures: number, outFeatures: number, vb: Weights, bias = true) {
    this.weight = vb.get("weight", [outFeatures, inFeatures]);
    this.bias = bias ? vb.get("bias", [outFeatures]) : null;
  }
  forward(x: Tensor): Tensor {
    return nn.linear(x, this.weight, this.bias);
  }
}

/** A PyTorch LayerNorm over the last axis. */
export class LayerNorm {
  readonly weight: Param;
  readonly bias: Param;
  constructor(size: number, readonly eps: number, vb: Weights) {
    this.weight = vb.get("weight", [size]);
    this.bias = vb.get("bias", [size]);
  }
  forward(x: Tensor): Tensor {
    return nn.layerNorm(x, this.weight, this.bias, this.eps);
  }
  /** `LayerNorm(x + residual)`, the post-LN block. */
  forwardWithResidual(x: Tensor, residual: Tensor): Tensor {
    return nn.addLayerNorm(x, residual, this.weight, this.bias, this.eps);
  }
}

