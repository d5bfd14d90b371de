// Higher ops composed from the primitives in ops.ts. This is the one place that decides *how* an
// op is lowered (plain ONNX, a fused onnxruntime kernel, int8): model files call these and never
// emit nodes themselves, so a kernel choice never touches a model file.
import { type Operand, type Param, Tensor } from "./graph.js";
import * as op from "./ops.js";

/** `x @ wᵀ + b`, the PyTorch Linear: `linear(x, w, b)` with w `[out, in]`, b `[out]`. */
export function linear(x: Tensor, w: Param, b: Param | null): Tensor {
  const y = op.matMul(x, op.transpose(x.graph.bind(w), [1, 0]));
  return b ? op.add(y, b) : y;
}

/** Layer normalisation over the last axis: `layerNorm(x, gamma, beta, 1e-12)`. */
export function layerNorm(x: Tensor, gamma: Operand, beta: Operand, eps: number): Tensor {
  if (x.graph.lowering.fused) return op.layerNormalization(x, gamma, beta, eps);
  const centred = op.sub(x, op.reduceMean(x, [-1]));
  const variance = op.reduceMean(op.mul(centred, centred), [-1]);
  const normed = op.div(centred, op.sqrt(op.add(variance, op.scalar(x, eps))));
  return op.add(op.mul(normed, gamma), beta);
}

/** Exact (erf) GELU, PyTorch's default: `0.5·x·(1 + erf(x/√2))`. */
export function gelu(x: Tensor): Tensor {
  const inner = op.erf(op.mul(x, op.scalar(x, Math.SQRT1_2)));
  return op.mul(op.mul(x, op.scalar(x, 0.5)), op.add(inner, op.scalar(x, 1)));
}

/** The activation named by a Hugging Face config (`hidden_act`). */
export function activation(name: string): (x: Tensor) => Tensor {
  if (name === "gelu") return gelu;
  throw new Error(`hidden_act "${name}" is not supported (BLIP checkpoints use "gelu")`);
}

/** Token embedding lookup: `embedding(table, ids)`: `[vocab, d]` rows at `[b, t]` ids → `[b, t, d]`. */
export function embedding(table: Param, ids: Tensor): Tensor {
  return op.gather(table, ids, 0);
}

/** `[b, t, heads·d]` → `[b, heads, t, d]` (the BNSH layout of caches and attention). */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const headDim = (x.shape[2] as number) / heads;
  return op.transpose(op.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** `[b, heads, t, d]` → `[b, t, heads·d]`. */
export function mergeHeads(x: Tensor): Tensor {
  const [, heads, , headDim] = x.shape as number[];
  return op.reshape(op.transpose(x, [0, 2, 1, 3]), [0, 0, heads! * headDim!]);
}

/**
 * Scaled dot-product attention on BNSH tensors: `softmax(q·kᵀ·scale + mask)·v`.
 * `mask` is additive and broadcasts to `[b, heads, t, s]` (0 = attend, a large negative = blocked).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, scale: number, mask: Tensor | null): Tensor {
  let scores = op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), op.scalar(q, scale));
  if (mask) scores = op.add(scores, mask);
  return op.matMul(op.softmax(scores, -1), v);
}
