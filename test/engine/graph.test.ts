// The IR/binding split: the same model code yields an inference graph (weights as initializers)
// or a training graph (trainable weights as fed inputs), and the writer serialises either.
import test from "node:test";
import assert from "node:assert/strict";
import { Graph, Param } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";

const f32 = (values: number[], shape: number[]) => ({ dtype: "float32" as const, shape, bytes: new Uint8Array(Float32Array.from(values).buffer) });

test("an inference graph binds weights as initializers", () => {
  const g = new Graph("inference");
  const w = new Param("layer.weight", f32([1, 2, 3, 4], [2, 2]));
  g.output(nn.linear(g.input("x", "float32", [1, 2]), w, null), "y");
  assert.deepEqual(g.inputs.map((t) => t.name), ["x"]);
  assert.ok([...g.initializers].some((i) => i.tensor.name === "layer.weight"));
  assert.equal(g.trainable.length, 0);
});

test("a training binding feeds trainable weights as inputs (float64 here) and keeps frozen ones as initializers", async () => {
  const w = new Param("layer.weight", f32([1, 2, 3, 4], [2, 2]));
  const b = new Param("layer.bias", f32([0.5, -1], [2]));
  const g = new Graph("training", { fused: false, quantize: "none" }, { trainable: (p) => p === w, dtype: "float64" });
  g.output(nn.linear(g.input("x", "float64", [1, 2]), w, b), "y");
  assert.deepEqual(g.inputs.map((t) => [t.name, t.dtype]), [["x", "float64"], ["layer.weight", "float64"]]);
  assert.deepEqual(g.trainable.map((t) => t.param.name), ["layer.weight"]);
  const bias = [...g.initializers].find((i) => i.tensor.name === "layer.bias")!;
  assert.equal(bias.data.dtype, "float64");
  const session = await CompiledGraph.compile(g, { threads: 1 });
  const out = await session.run({
    x: new ort.Tensor("float64", Float64Array.from([1, 1]), [1, 2]),
    "layer.weight": new ort.Tensor("float64", Float64Array.from([10, 20, 30, 40]), [2, 2]),
  });
  assert.deepEqual(Array.from(out.y!.data as Float64Array), [30.5, 69]);
  await session.release();
});

test("the int8 quantisation of a weight is made once per graph, not cached globally", () => {
  const w = new Param("w", f32(Array.from({ length: 8 }, (_, i) => i - 4), [2, 4]));
  const lowering = { fused: true, quantize: "int8" as const };
  const a = new Graph("a", lowering);
  const x = a.input("x", "float32", [1, 4]);
  nn.linear(x, w, null);
  nn.linear(x, w, null); // a second use reuses the graph's quantised copy (no duplicate initializer)
  const b = new Graph("b", lowering);
  nn.linear(b.input("x", "float32", [1, 4]), w, null);
  const int8 = (g: Graph) => [...g.initializers].filter((i) => i.data.dtype === "int8");
  assert.equal(int8(a).length, 1);
  assert.equal(int8(b).length, 1);
  assert.notEqual(int8(a)[0]!.data, int8(b)[0]!.data);
});
