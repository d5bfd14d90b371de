// Higher ops composed from the primitives in ops.ts. This is the one place that decides *how* an
// op is lowered (plain ONNX, a fused onnxruntime kernel, int8 or 4-bit weights): model files call these and never
// emit nodes themselves, so a kernel choice never touches a model file.
import { type Dim, type Operand, type Param, Tensor, float } from "./graph.js";
import * as op from "./ops.js";
import { quantizeInt4, quantizeInt8 } from "./quantize.js";

/**
 * `x @ wᵀ + b`, the PyTorch Linear: `linear(x, w, b)` with w `[out, in]`, b `[out]`. `viewAs` reads
 * w with another shape of the same size (a conv kernel as `[out, in·k·k]`). This is the one rule for
 * which matrices are quantised: every Linear's (not a conv's) when the graph's lowering asks for it.
 */
export function linear(x: Tensor, w: Param, b: Param | null, viewAs?: number[]): Tensor {
  const shape = [...x.shape.slice(0, -1), w.shape[0]!];
  switch (viewAs ? "none" : x.graph.lowering.quantize) {
    case "int8": {
      // Per-channel int8 weights, activations quantised on the fly (u8·s8 VNNI GEMM in MLAS).
      const q = x.graph.memo("int8", w, () => quantizeInt8(w));
      return x.graph.node("DynamicQuantizeMatMul", [x, q.weight, q.scale, null, b], { dtype: "float32", shape }, {}, MS);
    }
    case "int4": {
      // 4-bit weights in blocks along the input, dequantised inside MLAS's GEMM (see INT4).
      const q = x.graph.memo("int4", w, () => quantizeInt4(w, INT4.blockSize, INT4.asymmetric));
      const attrs = { K: w.shape[1]!, N: w.shape[0]!, bits: 4, block_size: INT4.blockSize, accuracy_level: INT4.accuracyLevel };
      return x.graph.node("MatMulNBits", [x, q.weight, q.scales, q.zeroPoints, null, b], { dtype: "float32", shape }, attrs, MS);
    }
    default: {
      if (x.graph.lowering.fused && !viewAs && x.dtype === "float32") return gemmLinear(x, w, b);
      const weight = viewAs ? op.reshape(x.graph.bind(w), viewAs) : x.graph.bind(w);
      const y = op.matMul(x, op.transpose(weight, [1, 0]));
      return b ? op.add(y, b) : y;
    }
  }
}

/**
 * The fused Linear: Gemm reads w `[out, in]` as stored (transB), so onnxruntime prepacks it straight
 * from the checkpoint. `MatMul(x, Transpose(w))` made it constant-fold a transposed copy of every
 * weight first: measured on blip-base fp32, session creation 2.4 → 1.4 s and RSS after the load
 * 1,170 → 1,030 MB.
 * Gemm is 2-D: x is flattened to `[rows, in]` and the result given x's leading dims back.
 */
function gemmLinear(x: Tensor, w: Param, b: Param | null): Tensor {
  const g = x.graph;
  const [outF, inF] = w.shape as [number, number];
  const flat = x.rank === 2 ? x : op.reshape(x, [-1, inF]);
  const y = g.node("Gemm", b ? [flat, g.bind(w), g.bind(b)] : [flat, g.bind(w)], { dtype: "float32", shape: [flat.shape[0]!, outF] }, { transB: 1 });
  if (x.rank === 2) return y;
  const lead = x.shape.slice(0, -1);
  return g.node("Reshape", [y, leadingShape(x, outF)], { dtype: "float32", shape: [...lead, outF] });
}

/**
 * `[...x.shape[:-1], last]` as an int64 vector: a constant when at most one leading dim is symbolic
 * (it becomes -1), else computed from x's run-time shape. Leading dims that are all the graph's
 * declared input dims (`batch`, `new`, …) fix the run-time sizes, so the vector is built once per graph
 * for them (a decoder's linears share it: measured, a Shape/Slice/Concat per linear cost 9% of a
 * decode step); dims the ops invent (`concat`, `t_sliced`) can name different sizes, so those get
 * one vector per tensor.
 */
function leadingShape(x: Tensor, last: number): Tensor {
  const g = x.graph;
  const lead = x.shape.slice(0, -1);
  if (lead.filter((d) => typeof d !== "number").length <= 1) {
    const target = [...lead.map((d) => (typeof d === "number" ? d : -1)), last];
    return g.constant(target, "int64", [target.length]);
  }
  const declared = new Set(g.inputs.flatMap((t) => t.shape.filter((d) => typeof d === "string")));
  const key = lead.every((d) => typeof d === "number" || declared.has(d)) ? lead.join(",") : `tensor ${x.name}`;
  return g.memo("leadingShape", `${key}|${last}`, () => {
    const dims = op.slice(op.shape(x), [0], [-1], [0]);
    return op.concat([dims, g.constant([last], "int64", [1])], 0);
  });
}

/**
 * How `quantize: "int4"` uses MatMulNBits, measured on random N(0, 0.02²) weights against fp32 MatMul
 * (AMD EPYC, AVX2 without VNNI, 2 threads; `test/engine/int4.test.ts` checks the semantics):
 * - blocks of 32 along K: output error 7.2% rms of the output (64: 8.1%), for 5.1 bits a weight;
 * - asymmetric (a zero point per block): 7.2% vs 8.7% symmetric, for 0.125 more bits a weight;
 * - `accuracy_level` 4 (activations quantised to int8 per block, integer dot products): the same error
 *   (7.22% vs 7.20%) and 2.3–4× faster at one row than levels 0/1 (fp32 activations): 2560×10240 at
 *   M = 1, 3.8 ms vs 8.9 ms (fp32 MatMul 11.3 ms). The 4-bit × int8 products cannot saturate AVX2's
 *   16-bit pair sums (15 · 127 · 2 < 2¹⁵), unlike int8 weights (see INT8_WEIGHT_MAX).
 */
export const INT4 = { blockSize: 32, asymmetric: true, accuracyLevel: 4 } as const;

/** Mean over static `axes`, keeping them as size 1: `reduceMean(x, [-1])` on `[b, t, d]` → `[b, t, 1]`. */
export function reduceMean(x: Tensor, axes: number[]): Tensor {
  const n = axes.reduce((p, a) => p * (x.shape.at(a) as number), 1);
  if (!Number.isInteger(n)) throw new Error(`reduceMean over a symbolic axis of [${x.shape}]`);
  return op.mul(op.reduceSum(x, axes), op.scalar(x, 1 / n));
}

/** Softmax over `axis`: `softmax(scores, -1)` (plain: `exp(x − max) / Σ exp(x − max)`; fused: ONNX Softmax). */
export function softmax(x: Tensor, axis = -1): Tensor {
  if (x.graph.lowering.fused) return x.graph.node("Softmax", [x], { dtype: x.dtype, shape: x.shape }, { axis });
  const e = op.exp(op.sub(x, op.reduceMax(x, [axis])));
  return op.div(e, op.reduceSum(e, [axis]));
}

/** `log(softmax(x))` along `axis`, stable for very negative logits: `logSoftmax(logits, -1)`. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const shifted = op.sub(x, op.reduceMax(x, [axis]));
  return op.sub(shifted, op.log(op.reduceSum(op.exp(shifted), [axis])));
}

/**
 * The error function. float32: the Erf primitive. float64: onnxruntime's CPU Erf has no double
 * kernel, so it is composed as `erf(x) = 2/√π · x·e^(−x²) · Σₙ aₙ x²ⁿ`, aₙ = 2ⁿ / (1·3···(2n+1))
 * (all terms positive: no cancellation; 100 terms reach double precision for |x| ≤ 6, beyond which
 * erf is ±1 in double). `erf(x)`
 */
export function erf(x: Tensor): Tensor {
  if (x.dtype !== "float64") return op.erf(x);
  const limit = op.scalar(x, ERF_LIMIT);
  const clamped = op.where(op.less(x, op.neg(limit)), op.neg(limit), op.where(op.less(limit, x), limit, x));
  const t = op.mul(clamped, clamped);
  // Horner in u = x²/36 ≤ 1 with coefficients aₙ·36ⁿ ∈ [4e-4, 5e13]. With the plain aₙ (down to
  // 1e-160) onnxruntime's basic-level rewrites (constant sharing) mangled the tiny scalars: measured,
  // erf(6) came out 0.64 unless optimisations were off.
  const u = op.mul(t, op.scalar(x, 1 / ERF_LIMIT ** 2));
  let series = op.scalar(x, ERF_SERIES.at(-1)!);
  for (let n = ERF_SERIES.length - 2; n >= 0; n--) series = op.add(op.mul(series, u), op.scalar(x, ERF_SERIES[n]!));
  return op.mul(op.mul(clamped, op.exp(op.neg(t))), op.mul(series, op.scalar(x, 2 / Math.sqrt(Math.PI))));
}

const ERF_LIMIT = 6;
/** aₙ·36ⁿ with aₙ = 2ⁿ / (1·3···(2n+1)), n = 0…100: erf's series in x²/36. */
const ERF_SERIES: number[] = [1];
for (let n = 1; n <= 100; n++) ERF_SERIES.push((ERF_SERIES[n - 1]! * 2 * ERF_LIMIT ** 2) / (2 * n + 1));

/** 2-D convolution without padding on NCHW: `conv2d(pixels, w, b, stride)` (plain lowering: stride = kernel only). */
export function conv2d(x: Tensor, w: Param, b: Param | null, stride: number): Tensor {
  const [n, , h, wd] = x.shape;
  const [outC, inC, kh, kw] = w.shape as number[];
  const out = (d: Dim | undefined, k: number) => (typeof d === "number" ? Math.floor((d - k) / stride) + 1 : `${d}_conv`);
  const shape = [n!, outC!, out(h, kh!), out(wd, kw!)];
  // Overlapping or symbolic-size convolutions stay a Conv node (float32 only, no backward rule).
  if (x.graph.lowering.fused || stride !== kh || stride !== kw || typeof h !== "number" || typeof wd !== "number") {
    return x.graph.node("Conv", b ? [x, w, b] : [x, w], { dtype: x.dtype, shape }, { strides: [stride, stride], kernel_shape: [kh!, kw!] });
  }
  // Non-overlapping patches: the convolution is a matmul over flattened patches, all primitives
  // (onnxruntime's CPU Conv has no double kernel and a conv needs no backward rule of its own).
  const [gh, gw] = [shape[2] as number, shape[3] as number];
  const cropped = h === gh * kh && wd === gw * kw ? x : op.slice(x, [0, 0], [gh * kh, gw * kw], [2, 3]);
  const patches = op.transpose(op.reshape(cropped, [0, inC!, gh, kh, gw, kw]), [0, 2, 4, 1, 3, 5]);
  const flat = op.reshape(patches, [0, gh * gw, inC! * kh * kw]);
  const y = linear(flat, w, b, [outC!, inC! * kh * kw]);
  return op.reshape(op.transpose(y, [0, 2, 1]), [0, outC!, gh, gw]);
}

/** Layer normalisation over the last axis: `layerNorm(x, gamma, beta, 1e-12)` (fused: ONNX LayerNormalization). */
export function layerNorm(x: Tensor, gamma: Operand, beta: Operand, eps: number): Tensor {
  if (x.graph.lowering.fused) return x.graph.node("LayerNormalization", [x, gamma, beta], { dtype: x.dtype, shape: x.shape }, { axis: -1, epsilon: float(eps) });
  const centred = op.sub(x, reduceMean(x, [-1]));
  const variance = reduceMean(op.mul(centred, centred), [-1]);
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
  const inner = erf(op.mul(x, op.scalar(x, Math.SQRT1_2)));
  return op.mul(op.mul(x, op.scalar(x, 0.5)), op.add(inner, op.scalar(x, 1)));
}

/** `max(x, 0)`: `relu(fc1Out)` (plain: `where(x < 0, 0, x)`; fused: ONNX Relu). */
export function relu(x: Tensor): Tensor {
  if (x.graph.lowering.fused) return x.graph.node("Relu", [x], { dtype: x.dtype, shape: x.shape });
  const zero = op.scalar(x, 0);
  return op.where(op.less(x, zero), zero, x);
}

const ACTIVATIONS: Readonly<Record<string, (x: Tensor) => Tensor>> = { gelu, relu };

/** The activation named by a Hugging Face config (`hidden_act`, OPT's `activation_function`). */
export function activation(name: string): (x: Tensor) => Tensor {
  const act = ACTIVATIONS[name];
  if (!act) throw new Error(`activation "${name}" is not supported; supported: ${Object.keys(ACTIVATIONS).join(", ")}`);
  return act;
}

/**
 * A learned `[1, ...rest]` tensor repeated for every row of `like`'s run-time batch:
 * `batchOf(classEmbedding [1, 1, d], tokens [b, t, d])` → `[b, 1, d]`.
 */
export function batchOf(x: Param, like: Tensor): Tensor {
  const rest = x.shape.slice(1) as number[];
  const shape = op.concat([op.slice(op.shape(like), [0], [1], [0]), like.graph.constant(rest, "int64", [rest.length])], 0);
  return op.expand(x, shape, [like.shape[0]!, ...rest]);
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
  return op.matMul(softmax(scores, -1), v);
}
