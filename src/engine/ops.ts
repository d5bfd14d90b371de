// The primitive ops: the only standard ONNX nodes the engine composes everything else from, each
// with one backward rule in autodiff.ts. Each is a thin typed wrapper that also infers the output
// shape (symbolic dims pass through), so higher ops compose them like tensor code. Keep this list
// short; fused kernels (LayerNormalization, Softmax, Conv, com.microsoft) are nn.ts's choice.
import { ONNX_DTYPE } from "./dtype.js";
import { type DType, type Dim, type Operand, Graph, Param, Tensor } from "./graph.js";

export { Param, Tensor };

/** The graph an op's operands live in (weights bind to it). */
export function graphOf(...operands: Operand[]): Graph {
  for (const o of operands) if (o instanceof Tensor) return o.graph;
  throw new Error("an op needs at least one graph tensor among its operands (weights alone have no graph)");
}

/** The operands as tensors of their graph (weights bound as the graph's ParamBinding says). */
function bindAll(...operands: Operand[]): Tensor[] {
  const g = graphOf(...operands);
  return operands.map((o) => g.bind(o));
}

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

function elementwise(op: string, a: Operand, b: Operand, dtype?: DType): Tensor {
  const [x, y] = bindAll(a, b);
  return x!.graph.node(op, [x!, y!], { dtype: dtype ?? x!.dtype, shape: broadcastShapes(x!.shape, y!.shape) });
}

function unary(op: string, x: Tensor): Tensor {
  return x.graph.node(op, [x], { dtype: x.dtype, shape: x.shape });
}

/** `a + b` with broadcasting: `add(x, bias)` on `[b, t, d]` + `[d]`. */
export const add = (a: Operand, b: Operand) => elementwise("Add", a, b);
/** `a - b` with broadcasting: `sub(x, reduceMax(x, [-1]))`. */
export const sub = (a: Operand, b: Operand) => elementwise("Sub", a, b);
/** `a * b` with broadcasting: `mul(normed, gamma)`. */
export const mul = (a: Operand, b: Operand) => elementwise("Mul", a, b);
/** `a / b` with broadcasting: `div(e, reduceSum(e, [-1]))`. */
export const div = (a: Operand, b: Operand) => elementwise("Div", a, b);
/** `a == b` as bool, with broadcasting (no gradient): `equal(labels, ignoreIndex)`. */
export const equal = (a: Operand, b: Operand) => elementwise("Equal", a, b, "bool");
/** `a < b` as bool, with broadcasting (no gradient): `less(x, limit)`. */
export const less = (a: Operand, b: Operand) => elementwise("Less", a, b, "bool");
/** Element-wise `-x`: `neg(logProbs)`. */
export const neg = (x: Tensor) => unary("Neg", x);
/** Element-wise square root: `sqrt(add(variance, eps))`. */
export const sqrt = (x: Tensor) => unary("Sqrt", x);
/** Element-wise `eˣ`: `exp(sub(x, max))`. */
export const exp = (x: Tensor) => unary("Exp", x);
/** Element-wise natural logarithm: `log(reduceSum(e, [-1]))`. */
export const log = (x: Tensor) => unary("Log", x);
/** Element-wise error function, `erf(x)` (float32 only in onnxruntime's CPU kernels; see nn.erf). */
export const erf = (x: Tensor) => unary("Erf", x);

/** `cond ? a : b` element-wise with broadcasting: `where(less(x, lo), lo, x)`. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const [x, y] = bindAll(a, b);
  return cond.graph.node("Where", [cond, x!, y!], { dtype: x!.dtype, shape: broadcastShapes(cond.shape, broadcastShapes(x!.shape, y!.shape)) });
}

/** Scalar constant of x's dtype, broadcastable against x: `scalar(x, 0.5)`. */
export function scalar(like: Tensor, value: number): Tensor {
  return like.graph.constant([value], like.dtype, []);
}

/** Batched matrix product: `[b, m, k] @ [k, n] → [b, m, n]`. */
export function matMul(a: Operand, b: Operand): Tensor {
  const [x, y] = bindAll(a, b);
  const sa = x!.shape;
  const sb = y!.shape;
  const batch = broadcastShapes(sa.slice(0, -2), sb.slice(0, -2));
  return x!.graph.node("MatMul", [x!, y!], { dtype: x!.dtype, shape: [...batch, sa[sa.length - 2]!, sb[sb.length - 1]!] });
}

const normAxes = (x: Tensor, axes: readonly number[]) => axes.map((a) => (a < 0 ? a + x.rank : a));
const keptShape = (x: Tensor, axes: readonly number[]) => x.shape.map((d, i) => (normAxes(x, axes).includes(i) ? 1 : d));

/** Sum over `axes`, keeping them as size 1: `reduceSum(x, [-1])` on `[b, t, d]` → `[b, t, 1]`. */
export function reduceSum(x: Tensor, axes: number[]): Tensor {
  const norm = normAxes(x, axes);
  return x.graph.node("ReduceSum", [x, x.graph.constant(norm, "int64", [norm.length])], { dtype: x.dtype, shape: keptShape(x, norm) }, { keepdims: 1 });
}

/** Maximum over `axes`, keeping them as size 1: `reduceMax(scores, [-1])`. */
export function reduceMax(x: Tensor, axes: number[]): Tensor {
  const norm = normAxes(x, axes);
  return x.graph.node("ReduceMax", [x], { dtype: x.dtype, shape: keptShape(x, norm) }, { axes: norm, keepdims: 1 });
}

/** Reshape; 0 copies the input dim, -1 is inferred: `reshape(x, [0, 0, heads, headDim])`. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const out: Dim[] = shape.map((d, i) => (d === 0 ? x.shape[i]! : d));
  const inferred = out.indexOf(-1);
  if (inferred >= 0) {
    // Dims copied with 0 cancel out, so a symbolic batch dim does not hide the inferred size.
    const total = product(x.shape.filter((_, i) => shape[i] !== 0));
    const known = product(out.filter((_, i) => i !== inferred && shape[i] !== 0));
    out[inferred] = typeof total === "number" && typeof known === "number" ? total / known : `${x.name}_reshaped`;
  }
  return x.graph.node("Reshape", [x, x.graph.constant(shape, "int64", [shape.length])], { dtype: x.dtype, shape: out });
}

/** Reshape to the run-time shape of `like` (same element count): `reshapeLike(grad, input)`. */
export function reshapeLike(x: Tensor, like: Tensor): Tensor {
  return x.graph.node("Reshape", [x, shape(like)], { dtype: x.dtype, shape: like.shape });
}

/** Permutes axes: `transpose(x, [0, 2, 1, 3])`. */
export function transpose(x: Operand, perm: number[]): Tensor {
  const [t] = bindAll(x);
  return t!.graph.node("Transpose", [t!], { dtype: t!.dtype, shape: perm.map((p) => t!.shape[p]!) }, { perm });
}

/** Joins tensors along `axis`: `concat([cls, patches], 1)`. */
export function concat(xs: Operand[], axis: number): Tensor {
  const ts = bindAll(...xs);
  const first = ts[0]!.shape;
  const a = axis < 0 ? axis + first.length : axis;
  const sizes = ts.map((x) => x.shape[a]!);
  const size = sizes.every((d) => typeof d === "number") ? (sizes as number[]).reduce((p, c) => p + c, 0) : "concat";
  const shape = first.map((d, i) => (i === a ? size : d));
  return ts[0]!.graph.node("Concat", ts, { dtype: ts[0]!.dtype, shape }, { axis: a });
}

/** Rows of `data` picked by integer `indices`: `gather(embeddings, ids)` → `[...ids.shape, dim]`. */
export function gather(data: Operand, indices: Tensor, axis = 0): Tensor {
  const [d] = bindAll(data, indices);
  const s = d!.shape;
  const shape = [...s.slice(0, axis), ...indices.shape, ...s.slice(axis + 1)];
  return indices.graph.node("Gather", [d!, indices], { dtype: d!.dtype, shape }, { axis });
}

/**
 * Elements of `data` picked along `axis` by `indices` of the same rank (torch.gather):
 * `gatherElements(logProbs [b, t, vocab], targets [b, t, 1], 2)` → `[b, t, 1]`.
 */
export function gatherElements(data: Operand, indices: Tensor, axis: number): Tensor {
  const [d] = bindAll(data, indices);
  return indices.graph.node("GatherElements", [d!, indices], { dtype: d!.dtype, shape: indices.shape }, { axis: axis < 0 ? axis + d!.rank : axis });
}

/**
 * `data` with each of `updates` added at its position along `axis` given by `indices` (same shape
 * as updates; torch.scatter_add). Repeated indices accumulate, in index order (deterministic):
 * `scatterAdd(zeros [vocab, d], ids [n, d], grads [n, d], 0)`.
 */
export function scatterAdd(data: Operand, indices: Tensor, updates: Operand, axis: number): Tensor {
  const [d, u] = bindAll(data, updates);
  return indices.graph.node("ScatterElements", [d!, indices, u!], { dtype: d!.dtype, shape: d!.shape }, { axis: axis < 0 ? axis + d!.rank : axis, reduction: "add" });
}

/**
 * Static slice along axes; starts ≥ 0, an end < 0 counts from the end (Python's `x[:, :-1]`), an end
 * past the size means "to the end": `slice(logits, [0], [-1], [1])`.
 */
export function slice(x: Operand, starts: number[], ends: number[], axes: number[]): Tensor {
  const [t] = bindAll(x);
  const g = t!.graph;
  const s = [...t!.shape];
  axes.forEach((ax, i) => {
    const d = s[ax]!;
    const end = ends[i]! < 0 && typeof d === "number" ? d + ends[i]! : ends[i]!;
    s[ax] = typeof d === "number" ? Math.max(0, Math.min(end, d) - starts[i]!) : `${d}_sliced`;
  });
  const c = (v: number[]) => g.constant(v, "int64", [v.length]);
  return g.node("Slice", [t!, c(starts), c(ends), c(axes)], { dtype: t!.dtype, shape: s });
}

/**
 * The last `like.shape[axis]` positions of x along `axis` (a run-time length):
 * `sliceLastLike(hidden [b, p + t, d], ids [b, t], 1)` → `[b, t, d]`.
 */
export function sliceLastLike(x: Tensor, like: Tensor, axis: number): Tensor {
  const g = x.graph;
  const length = like.graph.node("Slice", [shape(like), ...[[axis], [axis + 1], [0]].map((v) => g.constant(v, "int64", [1]))], { dtype: "int64", shape: [1] });
  const s = x.shape.map((d, i) => (i === axis ? like.shape[axis]! : d));
  return g.node("Slice", [x, neg(length), g.constant([Number.MAX_SAFE_INTEGER], "int64", [1]), g.constant([axis], "int64", [1])], { dtype: x.dtype, shape: s });
}

/** Zero padding: `pad(x, [before per axis], [after per axis])` (the backward of slice). */
export function pad(x: Tensor, before: number[], after: number[]): Tensor {
  const s = x.shape.map((d, i) => (typeof d === "number" ? d + before[i]! + after[i]! : d));
  return x.graph.node("Pad", [x, x.graph.constant([...before, ...after], "int64", [2 * x.rank])], { dtype: x.dtype, shape: s });
}

/** Converts the element type: `cast(onehot, "float32")`. */
export function cast(x: Tensor, to: DType): Tensor {
  return x.graph.node("Cast", [x], { dtype: to, shape: x.shape }, { to: ONNX_DTYPE[to] });
}

/** The run-time shape of x as an int64 vector: `shape(x)` on `[b, t, d]` → `[3]`. */
export function shape(x: Tensor): Tensor {
  return x.graph.node("Shape", [x], { dtype: "int64", shape: [x.rank] });
}

/** Broadcasts x to a run-time shape (int64 vector): `expand(cls, shapeVector, [batch, 1, d])`. */
export function expand(x: Operand, to: Tensor, staticShape: readonly Dim[]): Tensor {
  const [t] = bindAll(x, to);
  return to.graph.node("Expand", [t!, to], { dtype: t!.dtype, shape: staticShape });
}

/** Broadcasts x to the run-time shape of `like`: `expandLike(grad, input)`. */
export function expandLike(x: Tensor, like: Tensor): Tensor {
  return expand(x, shape(like), broadcastShapes(x.shape, like.shape));
}

function product(dims: readonly Dim[]): Dim {
  let p = 1;
  for (const d of dims) {
    if (typeof d !== "number") return "?";
    p *= d;
  }
  return p;
}
