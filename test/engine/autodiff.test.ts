// Each primitive's backward rule against central finite differences of the forward graph, in
// float64 (onnxruntime's CPU kernels have double versions of every primitive except Erf, checked
// in float32 with a looser tolerance). The loss is Σ f(x)·w with fixed random w, so every output
// element's gradient matters.
import test from "node:test";
import assert from "node:assert/strict";
import { gradients } from "../../src/engine/autodiff.js";
import { type DType, Graph, type Tensor } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import * as op from "../../src/engine/ops.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

interface InputSpec {
  shape: number[];
  /** Fixed values (indices, conditions); otherwise random in (−1, 1) (+ `shift`). */
  values?: number[];
  dtype?: DType;
  shift?: number;
  /** Not differentiated (indices, conditions). */
  fixed?: boolean;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

function tensor(dtype: DType, values: number[], shape: number[]): ort.Tensor {
  if (dtype === "float64") return new ort.Tensor("float64", Float64Array.from(values), shape);
  if (dtype === "float32") return new ort.Tensor("float32", Float32Array.from(values), shape);
  if (dtype === "int64") return new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), shape);
  if (dtype === "bool") return new ort.Tensor("bool", Uint8Array.from(values), shape);
  throw new Error(dtype);
}

/**
 * Builds `Σ build(inputs)·w`, its gradients by `gradients()`, and compares them with
 * (L(x + h) − L(x − h)) / 2h per element; `tol` is relative to the gradient tensor's largest entry.
 */
async function checkGradient(build: (xs: Tensor[]) => Tensor, specs: InputSpec[], opts: { dtype?: "float64" | "float32"; tol?: number; h?: number } = {}) {
  const dtype = opts.dtype ?? "float64";
  const g = new Graph("grad_check");
  const random = rng(7);
  const xs = specs.map((s, i) => g.input(`x${i}`, s.dtype ?? dtype, s.shape));
  const y = build(xs);
  const yShape = y.shape as number[];
  const w = g.constant(Array.from({ length: sizeOf(yShape) }, random), dtype, yShape);
  const loss = op.reduceSum(op.mul(y, w), yShape.map((_, i) => i));
  const diff = specs.map((s, i) => (s.fixed ? null : xs[i]!)).filter((t): t is Tensor => t !== null);
  const grads = gradients(loss, diff);
  g.output(loss, "loss");
  grads.forEach((d, i) => g.output(d, `grad${i}`));
  const session = await CompiledGraph.compile(g, { threads: 1 });
  const values = specs.map((s) => s.values ?? Array.from({ length: sizeOf(s.shape) }, () => random() + (s.shift ?? 0)));
  const run = async (vals: number[][]) => {
    const feeds: Record<string, ort.Tensor> = {};
    specs.forEach((s, i) => (feeds[`x${i}`] = tensor(s.dtype ?? dtype, vals[i]!, s.shape)));
    return session.run(feeds);
  };
  const base = await run(values);
  const h = opts.h ?? 1e-6;
  const tol = opts.tol ?? 1e-7;
  let k = 0;
  for (let i = 0; i < specs.length; i++) {
    if (specs[i]!.fixed) continue;
    const analytic = Array.from(base[`grad${k++}`]!.data as Float64Array);
    const scale = Math.max(1e-3, ...analytic.map(Math.abs));
    for (let j = 0; j < values[i]!.length; j++) {
      const plus = values.map((v) => v.slice());
      const minus = values.map((v) => v.slice());
      plus[i]![j]! += h;
      minus[i]![j]! -= h;
      const lp = Number((await run(plus)).loss!.data[0]);
      const lm = Number((await run(minus)).loss!.data[0]);
      const numeric = (lp - lm) / (2 * h);
      assert.ok(Math.abs(numeric - analytic[j]!) <= tol * scale, `input ${i}[${j}]: finite difference ${numeric} vs backward ${analytic[j]}`);
    }
  }
  await session.release();
}

const primitives: [string, (xs: Tensor[]) => Tensor, InputSpec[]][] = [
  ["Add (broadcast)", ([a, b]) => op.add(a!, b!), [{ shape: [2, 3] }, { shape: [3] }]],
  ["Sub (broadcast)", ([a, b]) => op.sub(a!, b!), [{ shape: [2, 1] }, { shape: [2, 3] }]],
  ["Mul (broadcast)", ([a, b]) => op.mul(a!, b!), [{ shape: [2, 3] }, { shape: [2, 1] }]],
  ["Div (broadcast)", ([a, b]) => op.div(a!, b!), [{ shape: [2, 3] }, { shape: [3], shift: 2 }]],
  ["Neg", ([a]) => op.neg(a!), [{ shape: [4] }]],
  ["Sqrt", ([a]) => op.sqrt(a!), [{ shape: [4], shift: 2 }]],
  ["Exp", ([a]) => op.exp(a!), [{ shape: [4] }]],
  ["Log", ([a]) => op.log(a!), [{ shape: [4], shift: 2 }]],
  ["Where", ([c, a, b]) => op.where(c!, a!, b!), [{ shape: [2, 3], dtype: "bool", values: [1, 0, 0, 1, 1, 0], fixed: true }, { shape: [2, 3] }, { shape: [3] }]],
  ["Equal/Less feed Where (no gradient through comparisons)", ([a, b]) => op.where(op.less(a!, b!), a!, b!), [{ shape: [5] }, { shape: [5] }]],
  ["MatMul (batched, broadcast weight)", ([a, b]) => op.matMul(a!, b!), [{ shape: [2, 3, 4] }, { shape: [4, 2] }]],
  ["MatMul (both batched)", ([a, b]) => op.matMul(a!, b!), [{ shape: [2, 2, 3, 4] }, { shape: [2, 2, 4, 3] }]],
  ["ReduceSum", ([a]) => op.reduceSum(a!, [1]), [{ shape: [2, 3, 2] }]],
  ["ReduceMax", ([a]) => op.reduceMax(a!, [-1]), [{ shape: [3, 4] }]],
  ["Reshape", ([a]) => op.reshape(a!, [3, -1]), [{ shape: [2, 3, 2] }]],
  ["Transpose", ([a]) => op.transpose(a!, [2, 0, 1]), [{ shape: [2, 3, 4] }]],
  ["Concat", ([a, b]) => op.concat([a!, b!], 1), [{ shape: [2, 1, 3] }, { shape: [2, 2, 3] }]],
  ["Slice", ([a]) => op.slice(a!, [1, 0], [3, 2], [1, 2]), [{ shape: [2, 4, 3] }]],
  ["Slice (negative end, as x[:, :-1])", ([a]) => op.slice(a!, [0], [-1], [1]), [{ shape: [2, 4, 3] }]],
  ["Pad", ([a]) => op.pad(a!, [0, 1], [2, 0]), [{ shape: [2, 3] }]],
  ["Gather (repeated indices)", ([t, i]) => op.gather(t!, i!, 0), [{ shape: [4, 3] }, { shape: [2, 3], dtype: "int64", values: [0, 2, 2, 3, 0, 0], fixed: true }]],
  ["GatherElements (repeated indices)", ([d, i]) => op.gatherElements(d!, i!, 1), [{ shape: [2, 4] }, { shape: [2, 3], dtype: "int64", values: [0, 3, 3, 2, 2, 1], fixed: true }]],
  ["ScatterElements (add, repeated indices)", ([d, i, u]) => op.scatterAdd(d!, i!, u!, 0), [{ shape: [3, 2] }, { shape: [4, 2], dtype: "int64", values: [0, 2, 1, 1, 0, 0, 2, 1], fixed: true }, { shape: [4, 2] }]],
  ["Expand", ([a, s]) => op.expand(a!, op.shape(s!), [2, 3, 4]), [{ shape: [3, 1] }, { shape: [2, 3, 4], fixed: true }]],
  ["Cast (float64 → float32 → float64)", ([a]) => op.cast(op.cast(a!, "float32"), "float64"), [{ shape: [3] }]],
  ["Identity (fan-out is summed)", ([a]) => op.mul(a!, a!), [{ shape: [3] }]],
];

for (const [name, build, specs] of primitives) {
  const tol = name.startsWith("Cast") ? 1e-4 : undefined;
  test(`backward of ${name} matches finite differences (float64)`, () => checkGradient(build, specs, { tol, h: tol ? 1e-3 : undefined }));
}

test("backward of Erf matches finite differences (float32: onnxruntime has no double Erf kernel)", () =>
  checkGradient(([a]) => op.erf(a!), [{ shape: [5] }], { dtype: "float32", h: 1e-2, tol: 2e-3 }));

const composites: [string, (xs: Tensor[]) => Tensor, InputSpec[]][] = [
  ["softmax", ([a]) => nn.softmax(a!, -1), [{ shape: [2, 5] }]],
  ["logSoftmax", ([a]) => nn.logSoftmax(a!, -1), [{ shape: [2, 5] }]],
  ["layerNorm", ([a, gamma, beta]) => nn.layerNorm(a!, gamma!, beta!, 1e-5), [{ shape: [2, 4] }, { shape: [4] }, { shape: [4] }]],
  ["gelu (double-precision erf series)", ([a]) => nn.gelu(op.mul(a!, op.scalar(a!, 4))), [{ shape: [6] }]],
  ["attention", ([q, k, v]) => nn.attention(q!, k!, v!, 0.5, null), [{ shape: [1, 2, 3, 2] }, { shape: [1, 2, 4, 2] }, { shape: [1, 2, 4, 2] }]],
];
for (const [name, build, specs] of composites) {
  test(`composite ${name} differentiates through its primitives (float64)`, () => checkGradient(build, specs));
}

test("the float64 erf composite is within a few ulp of erf, ±1 beyond the clamp", async () => {
  const g = new Graph("erf64");
  const x = g.input("x", "float64", [9]);
  g.output(nn.erf(x), "y");
  const session = await CompiledGraph.compile(g, { threads: 1 });
  const xs = [-7, -2, -0.5, 0, 0.1, 1, 3, 5, 9];
  // erf values from the DLMF / Abramowitz–Stegun tables (erf(−x) = −erf(x)).
  const expected = [-1, -0.9953222650189527, -0.5204998778130465, 0, 0.1124629160182849, 0.8427007929497149, 0.9999779095030014, 0.9999999999984626, 1];
  const y = (await session.run({ x: new ort.Tensor("float64", Float64Array.from(xs), [9]) })).y!.data as Float64Array;
  expected.forEach((e, i) => assert.ok(Math.abs(y[i]! - e) <= 1e-15, `erf(${xs[i]}) = ${y[i]} (expected ${e})`));
  await session.release();
});

test("a value the loss does not depend on gets a zero gradient; fused kernels have no backward", () => {
  const g = new Graph("unused");
  const a = g.input("a", "float64", [2]);
  const b = g.input("b", "float64", [2]);
  const [, db] = gradients(op.reduceSum(op.mul(a, a), [0]), [a, b]);
  assert.deepEqual([...g.initializers].find((i) => i.tensor === db)?.data.bytes.length, 16);
  const fused = new Graph("fused", { fused: true, quantize: "none" });
  const x = fused.input("x", "float32", [2, 3]);
  assert.throws(() => gradients(op.reduceSum(nn.softmax(x, -1), [0, 1]), [x]), /no backward rule for Softmax/);
});
