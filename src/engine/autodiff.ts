// Reverse-mode autodiff over the graph IR. One table maps each primitive op (ops.ts) to its
// backward rule, itself composed of primitives, so a gradient is just more graph: onnxruntime runs
// it with its ordinary forward kernels (it has no training kernels). Composite ops (nn.ts) have no
// rules: they differentiate through their parts. Fused kernels (com.microsoft, LayerNormalization,
// Softmax, Conv) have none either: training graphs use the plain lowering.
import type { Graph, Node, Tensor } from "./graph.js";
import * as op from "./ops.js";

/** Gradients of a node's inputs (null: none, e.g. indices or shapes) given its output's gradient. */
type Rule = (grad: Tensor, node: Node) => (Tensor | null)[];

const input = (n: Node, i: number): Tensor => n.inputs[i]!;
const out = (n: Node): Tensor => n.outputs[0]!;
const constValues = (n: Node, i: number): readonly number[] => {
  const v = n.outputs[0]!.graph.valuesOf(n.inputs[i] ?? null);
  if (!v) throw new Error(`${n.op} ${out(n).name}: its input ${i} must be a constant for the backward rule`);
  return v;
};
const staticDim = (t: Tensor, axis: number): number => {
  const d = t.shape[axis];
  if (typeof d !== "number") throw new Error(`backward of ${t.name}: axis ${axis} of [${t.shape}] must be static`);
  return d;
};

/**
 * Sums a broadcast gradient back to the shape of the operand it came from (reverse of NumPy
 * broadcasting): `unbroadcast(g [b, t, d], bias [d])` → `[d]`.
 */
export function unbroadcast(grad: Tensor, like: Tensor): Tensor {
  const extra = grad.rank - like.rank;
  const axes: number[] = [];
  grad.shape.forEach((d, i) => {
    if (i < extra || (like.shape[i - extra] === 1 && d !== 1)) axes.push(i);
  });
  const summed = axes.length ? op.reduceSum(grad, axes) : grad;
  if (extra === 0) return summed;
  return like.shape.every((d) => typeof d === "number") ? op.reshape(summed, like.shape as number[]) : op.reshapeLike(summed, like);
}

/** The last two axes swapped: `[b, m, k]` → `[b, k, m]`. */
const swapLast = (t: Tensor) => op.transpose(t, [...Array.from({ length: t.rank - 2 }, (_, i) => i), t.rank - 1, t.rank - 2]);

/**
 * The gradient of a matrix `b` `[k, n]` shared by every batch entry of `a @ b` (a Linear's weight):
 * the batch axes fold into the rows, `aᵀ·g` over `[rows, k]` and `[rows, n]`. The same sums as a
 * batched product then a ReduceSum, without the `[batch, k, n]` intermediate (for BLIP's LM head
 * `[8, 768, 30524]`: 750 MB).
 */
function sharedMatrixGrad(a: Tensor, g: Tensor, b: Tensor): Tensor {
  const [k, n] = [staticDim(b, 0), staticDim(b, 1)];
  return op.matMul(op.transpose(op.reshape(a, [-1, k]), [1, 0]), op.reshape(g, [-1, n]));
}

/** Zeros of `like`'s dtype and a static shape. */
const zeros = (like: Tensor, shape: number[]) => op.expand(op.scalar(like, 0), like.graph.constant(shape, "int64", [shape.length]), shape);
/** Zeros of x's dtype and run-time shape. */
const zerosLike = (x: Tensor) => op.expand(op.scalar(x, 0), op.shape(x), x.shape);

/** Slice ends at or beyond this mean "to the end" (any run-time size). */
const TO_THE_END = 2 ** 53;

const none: Rule = (_g, n) => n.inputs.map(() => null);

/** The backward rule of every primitive, keyed by ONNX op type. */
export const BACKWARD: Readonly<Record<string, Rule>> = {
  Identity: (g) => [g],
  Add: (g, n) => [unbroadcast(g, input(n, 0)), unbroadcast(g, input(n, 1))],
  Sub: (g, n) => [unbroadcast(g, input(n, 0)), unbroadcast(op.neg(g), input(n, 1))],
  Mul: (g, n) => [unbroadcast(op.mul(g, input(n, 1)), input(n, 0)), unbroadcast(op.mul(g, input(n, 0)), input(n, 1))],
  // d(a/b)/db = −(a/b)/b
  Div: (g, n) => [unbroadcast(op.div(g, input(n, 1)), input(n, 0)), unbroadcast(op.neg(op.div(op.mul(g, out(n)), input(n, 1))), input(n, 1))],
  Neg: (g) => [op.neg(g)],
  Sqrt: (g, n) => [op.div(g, op.mul(out(n), op.scalar(g, 2)))],
  Exp: (g, n) => [op.mul(g, out(n))],
  Log: (g, n) => [op.div(g, input(n, 0))],
  // erf'(x) = 2/√π · e^(−x²)
  Erf: (g, n) => {
    const x = input(n, 0);
    return [op.mul(g, op.mul(op.exp(op.neg(op.mul(x, x))), op.scalar(g, 2 / Math.sqrt(Math.PI))))];
  },
  Where: (g, n) => {
    const zero = op.scalar(g, 0);
    return [null, unbroadcast(op.where(input(n, 0), g, zero), input(n, 1)), unbroadcast(op.where(input(n, 0), zero, g), input(n, 2))];
  },
  Equal: none,
  Less: none,
  Shape: none,
  Cast: (g, n) => [input(n, 0).dtype.startsWith("float") ? op.cast(g, input(n, 0).dtype) : null],
  MatMul: (g, n) => {
    const [a, b] = [input(n, 0), input(n, 1)];
    if (a.rank < 2 || b.rank < 2) throw new Error("MatMul backward needs operands of rank ≥ 2");
    return [unbroadcast(op.matMul(g, swapLast(b)), a), b.rank === 2 && a.rank > 2 ? sharedMatrixGrad(a, g, b) : unbroadcast(op.matMul(swapLast(a), g), b)];
  },
  // keepdims: the gradient broadcasts back over the reduced axes.
  ReduceSum: (g, n) => [op.expandLike(g, input(n, 0)), null],
  // Shared equally between the elements that reached the maximum (as tinygrad and PyTorch do).
  ReduceMax: (g, n) => {
    const x = input(n, 0);
    const hit = op.cast(op.equal(x, out(n)), x.dtype);
    const share = op.div(hit, op.reduceSum(hit, n.attrs.axes as number[]));
    return [op.mul(share, g)];
  },
  Reshape: (g, n) => [op.reshapeLike(g, input(n, 0)), null],
  Transpose: (g, n) => {
    const perm = n.attrs.perm as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(g, inverse)];
  },
  Concat: (g, n) => {
    const axis = n.attrs.axis as number;
    let offset = 0;
    return n.inputs.map((x) => {
      const size = staticDim(x!, axis);
      offset += size;
      return op.slice(g, [offset - size], [offset], [axis]);
    });
  },
  // The slice's gradient is the gradient zero-padded back to the input's extent.
  Slice: (g, n) => {
    const x = input(n, 0);
    if (n.inputs[4]) throw new Error("Slice backward supports unit steps only");
    const [starts, ends, axes] = [constValues(n, 1), constValues(n, 2), constValues(n, 3)];
    const before = x.shape.map(() => 0);
    const after = x.shape.map(() => 0);
    axes.forEach((a, i) => {
      const ax = a < 0 ? a + x.rank : a;
      const end = ends[i]!;
      before[ax] = starts[i]!;
      // A negative end or an end at "infinity" pads the same amount whatever the run-time size.
      after[ax] = end < 0 ? -end : end >= TO_THE_END ? 0 : staticDim(x, ax) - Math.min(end, staticDim(x, ax));
    });
    return [op.pad(g, before, after), null, null, null];
  },
  Pad: (g, n) => {
    const x = input(n, 0);
    const pads = constValues(n, 1);
    const axes = x.shape.map((_, i) => i).filter((i) => pads[i] !== 0 || pads[i + x.rank] !== 0);
    return [op.slice(g, axes.map((a) => pads[a]!), axes.map((a) => pads[a]! + staticDim(x, a)), axes), null];
  },
  // Rows of the table: the gradient's rows added at their indices (a scatter-add, deterministic:
  // repeated indices accumulate in order). Exact, and no [tokens, vocab] one-hot (BLIP-base: a
  // [240, 30524] · [240, 768] product per step).
  Gather: (g, n) => {
    const [data, indices] = [input(n, 0), input(n, 1)];
    if ((n.attrs.axis ?? 0) !== 0) throw new Error("Gather backward supports axis 0 only");
    const rows = staticDim(data, 0);
    const rest = data.shape.slice(1).map((_, i) => staticDim(data, i + 1)).reduce((p, d) => p * d, 1);
    const flat = op.reshape(g, [-1, rest]);
    const ids = op.expand(op.reshape(indices, [-1, 1]), op.shape(flat), flat.shape);
    const table = op.scatterAdd(zeros(g, [rows, rest]), ids, flat, 0);
    return [op.reshape(table, data.shape as number[]), null];
  },
  GatherElements: (g, n) => [op.scatterAdd(zerosLike(input(n, 0)), input(n, 1), g, n.attrs.axis as number), null],
  ScatterElements: (g, n) => {
    if (n.attrs.reduction !== "add") throw new Error(`ScatterElements backward supports reduction "add" only, not ${n.attrs.reduction}`);
    return [g, null, op.gatherElements(g, input(n, 1), n.attrs.axis as number)];
  },
  Expand: (g, n) => [unbroadcast(g, input(n, 0)), null],
};

/**
 * Gradients of a scalar `loss` with respect to each of `wrt` (graph inputs or any intermediate
 * values), appended to loss's graph: reverse mode over the nodes, summing the gradients of values
 * used more than once. A value the loss does not depend on gets zeros.
 * `const [dw] = gradients(loss, [w])`
 */
export function gradients(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const g = loss.graph;
  if (loss.shape.some((d) => d !== 1)) throw new Error(`gradients: the loss must be a scalar, not [${loss.shape}]`);
  const nodes = g.nodes.slice(); // the backward nodes appended below are not walked
  // Only nodes on a path from some `wrt` to the loss need a backward rule.
  const dependsOnWrt = new Set<Tensor>(wrt);
  for (const n of nodes) if (n.inputs.some((i) => i && dependsOnWrt.has(i))) n.outputs.forEach((o) => dependsOnWrt.add(o));
  const grads = new Map<Tensor, Tensor>([[loss, g.constant([1], loss.dtype, loss.shape as number[])]]);
  const accumulate = (t: Tensor, d: Tensor) => {
    const prev = grads.get(t);
    grads.set(t, prev ? op.add(prev, d) : d);
  };
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    const grad = n.outputs.length === 1 ? grads.get(n.outputs[0]!) : undefined;
    if (!grad || !dependsOnWrt.has(n.outputs[0]!)) continue;
    const rule = BACKWARD[n.op];
    if (!rule || n.domain) throw new Error(`no backward rule for ${n.domain ? `${n.domain}.` : ""}${n.op} (${n.outputs[0]!.name}); training graphs need the plain lowering`);
    rule(grad, n).forEach((d, i) => {
      const x = n.inputs[i];
      if (d && x && dependsOnWrt.has(x)) accumulate(x, d);
    });
  }
  return wrt.map((t) => grads.get(t) ?? g.constant(new Array(size(t)).fill(0), t.dtype, t.shape as number[]));
}

/**
 * Adds `loss` and the gradient of every trainable weight of its graph as outputs: `loss` and
 * `grad.<checkpoint name>` (the contract of a training graph). Returns the gradient output names.
 */
export function outputLossAndGradients(loss: Tensor, lossName = "loss"): string[] {
  const g: Graph = loss.graph;
  const trainable = g.trainable;
  const grads = gradients(loss, trainable.map((t) => t.tensor));
  g.output(loss, lossName);
  return trainable.map((t, i) => g.output(grads[i]!, gradName(t.param.name)).name);
}

/** The output name of a weight's gradient: `grad.text_decoder.cls.predictions.bias`. */
export const gradName = (weight: string) => `grad.${weight}`;

function size(t: Tensor): number {
  return t.shape.reduce<number>((p, d) => {
    if (typeof d !== "number") throw new Error(`zero gradient of ${t.name}: shape [${t.shape}] must be static`);
    return p * d;
  }, 1);
}
