import test from "node:test";
import assert from "node:assert/strict";
import { Graph, Param } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import * as op from "../../src/engine/ops.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";

const f32 = (values: number[], shape: number[]) => ({ dtype: "float32" as const, shape, bytes: new Uint8Array(Float32Array.from(values).buffer) });

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `index ${i}: ${actual[i]} vs ${expected[i]}`);
}

test("linear computes x·Wᵀ + b with the weight bound from a Param", async () => {
  const g = new Graph("linear");
  const x = g.input("x", "float32", ["batch", 3]);
  const w = new Param("layer.weight", f32([1, 2, 3, 4, 5, 6], [2, 3]));
  const b = new Param("layer.bias", f32([0.5, -1], [2]));
  g.output(nn.linear(x, w, b), "y");
  const session = await CompiledGraph.compile(g, { threads: 1 });
  const out = await session.run({ x: new ort.Tensor("float32", Float32Array.from([1, 0, -1, 2, 1, 0]), [2, 3]) });
  close(out.y!.data as Float32Array, [1 - 3 + 0.5, 4 - 6 - 1, 2 + 2 + 0.5, 8 + 5 - 1], 1e-6);
});

for (const fused of [false, true]) {
  test(`layerNorm (${fused ? "fused kernel" : "plain ops"}) normalises the last axis`, async () => {
    const g = new Graph("ln", { fused, quantize: "none" });
    const x = g.input("x", "float32", [2, 4]);
    const gamma = new Param("ln.weight", f32([1, 2, 1, 1], [4]));
    const beta = new Param("ln.bias", f32([0, 0, 1, 0], [4]));
    g.output(nn.layerNorm(x, gamma, beta, 1e-5), "y");
    const session = await CompiledGraph.compile(g, { threads: 1 });
    const input = [1, 2, 3, 4, -1, -1, 1, 1];
    const out = await session.run({ x: new ort.Tensor("float32", Float32Array.from(input), [2, 4]) });
    const expected: number[] = [];
    for (const row of [input.slice(0, 4), input.slice(4)]) {
      const mean = row.reduce((a, b) => a + b) / 4;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
      row.forEach((v, i) => expected.push(((v - mean) / Math.sqrt(variance + 1e-5)) * [1, 2, 1, 1][i]! + [0, 0, 1, 0][i]!));
    }
    close(out.y!.data as Float32Array, expected, 1e-5);
  });
}

test("gelu is the exact erf form", async () => {
  const g = new Graph("gelu");
  const x = g.input("x", "float32", [3]);
  g.output(nn.gelu(x), "y");
  const session = await CompiledGraph.compile(g, { threads: 1 });
  const out = await session.run({ x: new ort.Tensor("float32", Float32Array.from([-1, 0, 2]), [3]) });
  // 0.5·x·(1 + erf(x/√2)) at -1 and 2 (erf(0.7071) = 0.682689, erf(1.41421) = 0.954500).
  close(out.y!.data as Float32Array, [-0.5 * (1 - 0.682689492), 0, 1 + 0.954499736], 1e-6);
});

test("attention with an additive mask ignores blocked keys", async () => {
  const g = new Graph("attn");
  const q = g.input("q", "float32", [1, 1, 1, 2]);
  const k = g.input("k", "float32", [1, 1, 2, 2]);
  const v = g.input("v", "float32", [1, 1, 2, 2]);
  const mask = g.input("mask", "float32", [1, 1, 1, 2]);
  g.output(nn.attention(q, k, v, 1, mask), "y");
  const session = await CompiledGraph.compile(g, { threads: 1 });
  const t = (d: number[], s: number[]) => new ort.Tensor("float32", Float32Array.from(d), s);
  const out = await session.run({ q: t([1, 0], [1, 1, 1, 2]), k: t([1, 0, 0, 1], [1, 1, 2, 2]), v: t([10, 20, 30, 40], [1, 1, 2, 2]), mask: t([0, -3.4e38], [1, 1, 1, 2]) });
  close(out.y!.data as Float32Array, [10, 20], 1e-6);
});

test("reshape/transpose/concat infer shapes with symbolic dims", () => {
  const g = new Graph("shapes");
  const x = g.input("x", "float32", ["batch", 6, 8]);
  const heads = nn.splitHeads(x, 2);
  assert.deepEqual(heads.shape, ["batch", 2, 6, 4]);
  assert.deepEqual(nn.mergeHeads(heads).shape, ["batch", 6, 8]);
  assert.deepEqual(op.concat([x, x], 1).shape, ["batch", 12, 8]);
});
