// Higher ops composed from the primitives in ops.ts. This is the one place that decides *how* an
// op is lowered (plain ONNX, a fused onnxruntime kernel, int8): model files call these and never
// emit nodes themselves, so a kernel choice never touches a model file.
import { type Operand, type Param, Tensor, float } from "./graph.js";
import * as op from "./ops.js";
import { int8Linear } from "./quantize.js";

/** `x @ wᵀ + b`, the PyTorch Linear: `linear(x, w, b)` with w `[out, in]`, b `[out]`. */
export function linear(x: Tensor, w: Param, b: Param | null): Tensor {
  if (x.graph.lowering.quantize === "int8") {
    // Per-channel int8 weights, activations quantised on the fly (u8·s8 VNNI GEMM in MLAS).
    const q = int8Linear(w);
    const shape = [...x.shape.slice(0, -1), w.shape[0]!];
    return x.graph.node("DynamicQuantizeMatMul", [x, q.weight, q.scale, null, b], { dtype: "float32", shape }, {}, MS);
  }
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

/** `layerNorm(x + residual)`: the post-LN residual block (fused: SkipLayerNormalization). */
export function addLayerNorm(x: Tensor, residual: Tensor, gamma: Operand, beta: Operand, eps: number): Tensor {
  if (!x.graph.lowering.fused) return layerNorm(op.add(x, residual), gamma, beta, eps);
  return x.graph.node("SkipLayerNormalization", [x, residual, gamma, beta], { dtype: x.dtype, shape: x.shape }, { epsilon: float(eps) }, MS);
}

/** Exact (erf) GELU, PyTorch's default: `0.5·x·(1 + erf(x/√2))` (fused: com.microsoft Gelu). */
export function gelu(x: Tensor): Tensor {
  if (x.graph.lowering.fused) return x.graph.node("Gelu", [x], { dtype: x.dtype, shape: x.shape }, {}, MS);
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

/** Keys and values in the BNSH layout `[b, heads, seq, headDim]`. */
export interface KeyValue {
  key: Tensor;
  value: Tensor;
}

export interface AttentionOptions {
  heads: number;
  scale: number;
  /** Cached keys/values of earlier positions (BNSH), prepended to the new ones; `present` is returned. */
  past?: KeyValue;
  /** Additive mask broadcasting to `[b, heads, t, s]`. */
  mask?: Tensor;
  /**
   * `mask` is exactly the causal mask (query i sees keys ≤ past + i): kernels that apply causality
   * themselves then ignore the tensor.
   */
  causal?: boolean;
}

/**
 * Multi-head attention of queries `[b, t, heads·d]` over keys/values given either as `[b, s, heads·d]`
 * (`{key, value}` tensors of rank 3) or already split into BNSH (rank 4, e.g. cached image K/V).
 * Returns `[b, t, heads·d]` and, with `past`, the grown cache. Fused: com.microsoft MultiHeadAttention.
 * `multiHeadAttention(q, {key: k, value: v}, {heads: 12, scale: 0.125, past, mask})`
 */
export function multiHeadAttention(q: Tensor, kv: KeyValue, o: AttentionOptions): { output: Tensor; present?: KeyValue } {
  const g = q.graph;
  if (g.lowering.fused) {
    const headDim = (q.shape[2] as number) / o.heads;
    const cache = (len: string) => ({ dtype: q.dtype, shape: [q.shape[0]!, o.heads, len, headDim] });
    // A causal mask is applied by the kernel itself (measured: 3× faster per token than an attention_bias input).
    const inputs = [q, kv.key, kv.value, null, null, o.causal ? null : o.mask ?? null, o.past?.key ?? null, o.past?.value ?? null];
    while (inputs.at(-1) === null) inputs.pop();
    const outs = [{ dtype: q.dtype, shape: q.shape }, ...(o.past ? [cache("total"), cache("total")] : [])];
    const [output, key, value] = g.nodeN("MultiHeadAttention", inputs, outs, { num_heads: o.heads, scale: float(o.scale), unidirectional: o.causal ? 1 : 0 }, MS);
    return o.past ? { output: output!, present: { key: key!, value: value! } } : { output: output! };
  }
  const split = (t: Tensor) => (t.rank === 4 ? t : splitHeads(t, o.heads));
  let key = split(kv.key);
  let value = split(kv.value);
  if (o.past) {
    key = op.concat([o.past.key, key], 2);
    value = op.concat([o.past.value, value], 2);
  }
  const output = mergeHeads(attention(splitHeads(q, o.heads), key, value, o.scale, o.mask ?? null));
  return o.past ? { output, present: { key, value } } : { output };
}

const MS = "com.microsoft";

/**
 * Scaled dot-product attention on BNSH tensors: `softmax(q·kᵀ·scale + mask)·v`.
 * `mask` is additive and broadcasts to `[b, heads, t, s]` (0 = attend, a large negative = blocked).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, scale: number, mask: Tensor | null): Tensor {
  let scores = op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), op.scalar(q, scale));
  if (mask) scores = op.add(scores, mask);
  return op.matMul(op.softmax(scores, -1), v);
}
