// The fused Linear (Gemm with transB, reshaped around) and the int8 quantiser's rounding, each
// against an independent reference: the plain lowering's MatMul and a straightforward Math.round loop.
import test from "node:test";
import assert from "node:assert/strict";
import { Graph, Param, type Tensor } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import * as op from "../../src/engine/ops.js";
import { INT8_WEIGHT_MAX, quantizeInt8, roundToInt } from "../../src/engine/quantize.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";

const f32 = (values: ArrayLike<number>, shape: number[]) => ({ dtype: "float32" as const, shape, bytes: new Uint8Array(Float32Array.from(values).buffer) });
const wave = (n: number, k = 1.3) => Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.2));
const IN = 3;
const OUT = 2;
const w = new Param("w", f32(wave(OUT * IN), [OUT, IN]));
const b = new Param("b", f32([0.5, -1], [OUT]));

/** `x·wᵀ + b` row by row. */
function reference(x: ArrayLike<number>): number[] {
  const weights = wave(OUT * IN);
  const y: number[] = [];
  for (let r = 0; r < x.length / IN; r++) for (let o = 0; o < OUT; o++) y.push([0.5, -1][o]! + weights.slice(o * IN, o * IN + IN).reduce((s, v, i) => s + v * x[r * IN + i]!, 0));
  return y;
}

type Feeds = Record<string, { data: number[]; dims: number[] }>;

const CASES: Array<{ name: string; build: (g: Graph) => Record<string, Tensor>; feeds: Feeds; expect: (f: Feeds) => Record<string, { data: number[]; dims: number[] }> }> = [
  { name: "rank 1", build: (g) => ({ y: nn.linear(g.input("x", "float32", [IN]), w, b) }), feeds: { x: { data: [1, 2, 3], dims: [IN] } }, expect: (f) => ({ y: { data: reference(f.x!.data), dims: [OUT] } }) },
  { name: "rank 2, symbolic rows", build: (g) => ({ y: nn.linear(g.input("x", "float32", ["n", IN]), w, b) }), feeds: { x: { data: wave(6, 0.7), dims: [2, IN] } }, expect: (f) => ({ y: { data: reference(f.x!.data), dims: [2, OUT] } }) },
  { name: "rank 3, two symbolic dims", build: (g) => ({ y: nn.linear(g.input("x", "float32", ["batch", "t", IN]), w, b) }), feeds: { x: { data: wave(12, 0.4), dims: [2, 2, IN] } }, expect: (f) => ({ y: { data: reference(f.x!.data), dims: [2, 2, OUT] } }) },
  { name: "rank 4, one symbolic dim", build: (g) => ({ y: nn.linear(g.input("x", "float32", [1, 2, "t", IN]), w, b) }), feeds: { x: { data: wave(12, 0.9), dims: [1, 2, 2, IN] } }, expect: (f) => ({ y: { data: reference(f.x!.data), dims: [1, 2, 2, OUT] } }) },
  {
    // Both concats are named [batch, "concat"] but have different lengths (3 and 4): one shape vector each.
    name: "two concats of different lengths",
    build: (g) => {
      const a = g.input("a", "float32", ["batch", "s", IN]);
      const c = g.input("c", "float32", ["batch", "u", IN]);
      return { y1: nn.linear(op.concat([a, c], 1), w, b), y2: nn.linear(op.concat([c, c], 1), w, b) };
    },
    feeds: { a: { data: wave(3, 0.3), dims: [1, 1, IN] }, c: { data: wave(6, 1.1), dims: [1, 2, IN] } },
    expect: (f) => ({
      y1: { data: reference([...f.a!.data, ...f.c!.data]), dims: [1, 3, OUT] },
      y2: { data: reference([...f.c!.data, ...f.c!.data]), dims: [1, 4, OUT] },
    }),
  },
];

for (const fused of [false, true]) {
  for (const c of CASES) {
    test(`linear (${fused ? "Gemm, fused" : "MatMul, plain"}) on ${c.name} gives x·wᵀ + b with x's leading dims`, async () => {
      const g = new Graph(`linear_${fused}`, { fused, quantize: "none" });
      for (const [name, t] of Object.entries(c.build(g))) g.output(t, name);
      const session = await CompiledGraph.compile(g, { threads: 1 });
      const feeds = Object.fromEntries(Object.entries(c.feeds).map(([k, v]) => [k, new ort.Tensor("float32", Float32Array.from(v.data), v.dims)]));
      const out = await session.run(feeds);
      for (const [name, want] of Object.entries(c.expect(c.feeds))) {
        assert.deepEqual(out[name]!.dims, want.dims, name);
        Array.from(out[name]!.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - want.data[i]!) < 1e-5, `${name}[${i}]: ${v} vs ${want.data[i]}`));
      }
      await session.release();
    });
  }
}

test("roundToInt is Math.round for |v| ≤ 127, also a hair below a half and for NaN", () => {
  // 10610063 · 13264529 = 2^47 − 1: a weight times an inverse scale (both float32) that lands 2^-48
  // below 0.5, where adding 128.5 rounds up to 129.
  const crafted = 10610063 * 2 ** -34 * (13264529 * 2 ** -14);
  assert.equal(crafted, 0.5 - 2 ** -48);
  const values = [crafted, -crafted, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0, -0, 126.5, -126.5, 127, -127, 63.49999, -63.50001];
  for (let i = 0; i < 20000; i++) values.push((Math.sin(i * 12.9898) * 43758.5453) % 127);
  for (const v of values) assert.equal(roundToInt(v), Math.round(v) || 0, `v = ${v}`);
  assert.equal(roundToInt(Number.NaN), 0);
});

test("quantizeInt8 is a per-channel Math.round quantisation, transposed to [in, out], for any number of outputs", () => {
  for (const [outF, inF] of [[4, 5], [3, 2], [5, 7], [8, 1]] as const) {
    const values = wave(outF * inF, 2.1).map((v, i) => (i % 7 === 0 ? v * 40 : v));
    const q = quantizeInt8(new Param("w", f32(values, [outF, inF])));
    const codes = new Int8Array(q.weight.data.bytes.buffer, q.weight.data.bytes.byteOffset, outF * inF);
    const scales = new Float32Array(q.scale.data.bytes.buffer.slice(q.scale.data.bytes.byteOffset, q.scale.data.bytes.byteOffset + 4 * outF));
    for (let o = 0; o < outF; o++) {
      const row = Float32Array.from(values.slice(o * inF, o * inF + inF));
      const max = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.equal(scales[o], Math.fround(max / INT8_WEIGHT_MAX));
      const inverse = Math.fround(1 / scales[o]!);
      for (let i = 0; i < inF; i++) assert.equal(codes[i * outF + o], Math.round(row[i]! * inverse) || 0, `[${o}, ${i}] of ${outF}×${inF}`);
    }
  }
});
