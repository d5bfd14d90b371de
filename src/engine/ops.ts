// The primitive ops: the only place that emits standard ONNX nodes. Each is a thin typed wrapper
// that also infers the output shape (symbolic dims pass through), so higher ops compose them like
// tensor code. Keep this list short: every primitive will need a backward rule for fine-tuning.
import { ONNX_DTYPE } from "./dtype.js";
import { type DType, type Dim, type Operand, Graph, Param, Tensor, float } from "./graph.js";

/** The graph an op's operands live in (weights bind to it). */
export function graphOf(...operands: Operand[]): Graph {
  for (const o of operands) if (o instanceof Tensor) return o.graph;
  throw new Error("an op needs at least one graph tensor among its operands (weights alone have no graph)");
}

const shapeOf = (o: Operand): readonly Dim[] => o.shape;
const dtypeOf = (o: Operand): DType => o.dtype;

/** NumPy broadcasting of two shapes: `[2, 1, 4] ⊕ [3, 1] → [2, 3, 4]`. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    else if (typeof x === "number" && typeof y === "number") throw new Error(`cannot broadcast [${a}] with [${b}]`);
    else out.push(typeof x === "number" ? x : y);
  }
  return out;
}

function elementwise(op: string, a: Operand, b: Operand): Tensor {
  return graphOf(a, b).node(op, [a, b], { dtype: dtypeOf(a), shape: broadcastShapes(shapeOf(a), shapeOf(b)) });
}

function unary(op: string, x: Tensor, attrs = {}): Tensor {
  return x.graph.node(op, [x], { dtype: x.dtype, shape: x.shape }, attrs);
}

/** `a + b` with broadcasting. */
export const add = (a: Operand, b: Operand) => elementwise("Add", a, b);
/** `a - b` with broadcasting. */
export const sub = (a: Operand, b: Operand) => elementwise("Sub", a, b);
/** `a * b` with broadcasting. */
export const mul = (a: Operand, b: Operand) => elementwise("Mul", a, b);
/** `a / b` with broadcasting. */
export const div = (a: Operand, b: Operand) => elementwise("Div", a, b);
/** `a ** b` with broadcasting. */
export const pow = (a: Operand, b: Operand) => elementwise("Pow", a, b);
/** Element-wise square root. */
export const sqrt = (x: Tensor) => unary("Sqrt", x);
/** Element-wise error function (exact GELU is built on it). */
export const erf = (x: Tensor) => unary("Erf", x);
/** Element-wise tanh. */
export const tanh = (x: Tensor) => unary("Tanh", x);

/** Scalar constant of x's dtype, broadcastable against x: `scalar(x, 0.5)`. */
export function scalar(like: Tensor, value: number): Tensor {
  return like.graph.constant([value], like.dtype, []);
}

/** Batched matrix product: `[b, m, k] @ [k, n] → [b, m, n]`. */
export function matMul(a: Operand, b: Operand): Tensor {
  const sa = shapeOf(a);
  const sb = shapeOf(b);
  const batch = broadcastShapes(sa.slice(0, -2), sb.slice(0, -2));
  return graphOf(a, b).node("MatMul", [a, b], { dtype: dtypeOf(a), shape: [...batch, sa[sa.length - 2]!, sb[sb.length - 1]!] });
}

/** Softmax over `axis`: `softmax(scores, -1)`. */
export const softmax = (x: Tensor, axis = -1) => unary("Softmax", x, { axis });

/** Mean over `axes`, keeping them as size 1: `reduceMean(x, [-1])` on `[b, t, d]` → `[b, t, 1]`. */
export function reduceMean(x: Tensor, axes: number[]): Tensor {
  const norm = axes.map((a) => (a < 0 ? a + x.rank : a));
  const shape = x.shape.map((d, i) => (norm.includes(i) ? 1 : d));
  return x.graph.node("ReduceMean", [x], { dtype: x.dtype, shape }, { axes, keepdims: 1 });
}

/** Reshape; 0 copies the input dim, -1 is inferred: `reshape(x, [0, 0, heads, headDim])`. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const out: Dim[] = shape.map((d, i) => (d === 0 ? x.shape[i]! : d));
  const inferred = out.indexOf(-1);
  if (inferred >= 0) {
    const total = product(x.shape);
    const known = product(out.filter((_, i) => i !== inferred));
    out[inferred] = typeof total === "number" && typeof known === "number" ? total / known : `${x.name}_reshaped`;
  }
  return x.graph.node("Reshape", [x, x.graph.constant(shape, "int64", [shape.length])], { dtype: x.dtype, shape: out });
}

/** Permutes axes: `transpose(x, [0, 2, 1, 3])`. */
export function transpose(x: Operand, perm: number[]): Tensor {
  const s = shapeOf(x);
  return graphOf(x).node("Transpose", [x], { dtype: dtypeOf(x), shape: perm.map((p) => s[p]!) }, { perm });
}

/** Joins tensors along `axis`: `concat([cls, patches], 1)`. */
export function concat(xs: Operand[], axis: number): Tensor {
  const first = shapeOf(xs[0]!);
  const a = axis < 0 ? axis + first.length : axis;
  const sizes = xs.map((x) => shapeOf(x)[a]!);
  const size = sizes.every((d) => typeof d === "number") ? (sizes as number[]).reduce((p, c) => p + c, 0) : "concat";
  const shape = first.map((d, i) => (i === a ? size : d));
  return graphOf(...xs).node("Concat", xs, { dtype: dtypeOf(xs[0]!), shape }, { axis });
}

/** Rows of `data` picked by integer `indices`: `gather(embeddings, ids)` → `[...ids.shape, dim]`. */
export function gather(data: Operand, indices: Tensor, axis = 0): Tensor {
  const s = shapeOf(data);
  const shape = [...s.slice(0, axis), ...indices.shape, ...s.slice(axis + 1)];
  return graphOf(indices).node("Gather", [data, indices], { dtype: dtypeOf(data), shape }, { axis });
}

/** Static slice along axes: `slice(pos, [0], [n], [1])`. */
export function slice(x: Operand, starts: number[], ends: number[], axes: number[]): Tensor {
  const g = graphOf(x);
  const s = [...shapeOf(x)];
  axes.forEach((ax, i) => {
    const d = s[ax]!;
    s[ax] = typeof d === "number" ? Math.max(0, Math.min(ends[i]!, d) - starts[i]!) : `${d}_sliced`;
  });
  const c = (v: number[]) => g.constant(v, "int64", [v.length]);
  return g.node("Slice", [x, c(starts), c(ends), c(axes)], { dtype: dtypeOf(x), shape: s });
}

/** Slice whose bounds are run-time tensors (int64 `[n]`), e.g. position rows from an offset. */
export function dynamicSlice(x: Operand, starts: Tensor, ends: Tensor, axes: number[]): Tensor {
  const g = graphOf(starts);
  const s = shapeOf(x).map((d, i) => (axes.includes(i) ? `${starts.name}_len` : d));
  return g.node("Slice", [x, starts, ends, g.constant(axes, "int64", [axes.length])], { dtype: dtypeOf(x), shape: s });
}

/** Inserts size-1 axes: `unsqueeze(mask, [1])` on `[b, t]` → `[b, 1, t]`. */
export function unsqueeze(x: Tensor, axes: number[]): Tensor {
  const shape: Dim[] = [...x.shape];
  for (const a of [...axes].sort((p, q) => p - q)) shape.splice(a, 0, 1);
  return x.graph.node("Unsqueeze", [x, x.graph.constant(axes, "int64", [axes.length])], { dtype: x.dtype, shape });
}

/** Converts the element type: `cast(ids, "float32")`. */
export function cast(x: Tensor, to: DType): Tensor {
  return x.graph.node("Cast", [x], { dtype: to, shape: x.shape }, { to: ONNX_DTYPE[to] });
}

/** 2-D convolution without padding: `conv2d(pixels, w, b, stride)` on NCHW. */
export function conv2d(x: Tensor, w: Operand, b: Operand | null, stride: number): Tensor {
  const [n, , h, wd] = x.shape;
  const [outC, , kh, kw] = shapeOf(w) as number[];
  const out = (d: Dim | undefined, k: number) => (typeof d === "number" ? Math.floor((d - k) / stride) + 1 : `${d}_conv`);
  const shape = [n!, outC!, out(h, kh!), out(wd, kw!)];
  const inputs = b ? [x, w, b] : [x, w];
  return x.graph.node("Conv", inputs, { dtype: x.dtype, shape }, { strides: [stride, stride], kernel_shape: [kh!, kw!] });
}

/** Layer normalisation over the last axis (ONNX LayerNormalization, opset 17). */
export function layerNormalization(x: Tensor, gamma: Operand, beta: Operand, eps: number): Tensor {
  return x.graph.node("LayerNormalization", [x, gamma, beta], { dtype: x.dtype, shape: x.shape }, { axis: -1, epsilon: float(eps) });
}

function product(dims: readonly Dim[]): Dim {
  let p = 1;
  for (const d of dims) {
    if (typeof d !== "number") return "?";
    p *= d;
  }
  return p;
}

export { Param, Tensor };

/** The run-time shape of x as an int64 vector: `shape(x)` on `[b, t, d]` → `[3]`. */
export function shape(x: Tensor): Tensor {
  return x.graph.node("Shape", [x], { dtype: "int64", shape: [x.rank] });
}

/** Broadcasts x to a run-time shape (int64 vector): `expand(cls, shapeVector)`. */
export function expand(x: Operand, to: Tensor, staticShape: readonly Dim[]): Tensor {
  return graphOf(to).node("Expand", [x, to], { dtype: dtypeOf(x), shape: staticShape });
}
