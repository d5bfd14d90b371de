// 4-bit weights (`quantize: "int4"`): the block quantiser's layout and error as MatMulNBits's spec
// (onnxruntime docs/ContribOperators.md) defines them, unpacked here independently of the quantiser;
// and the lowered Linear against exact arithmetic and against fp32.
import test from "node:test";
import assert from "node:assert/strict";
import { Graph, Param } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import { quantizeInt4 } from "../../src/engine/quantize.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";

/** A seeded N(0, σ²) stream, so that failures replay. */
function gaussian(seed: number, sigma = 1): () => number {
  let s = seed;
  const uniform = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * sigma;
}

const param = (name: string, values: Float32Array, shape: number[]) => new Param(name, { dtype: "float32", shape, bytes: new Uint8Array(values.buffer) });

/** `w` `[N, K]` back from MatMulNBits's inputs, per the spec: (code − zero point) · scale, low nibble first. */
function dequantise(q: ReturnType<typeof quantizeInt4>, N: number, K: number, blockSize: number): { w: Float64Array; step: Float64Array; zero: Uint8Array } {
  const blocks = Math.ceil(K / blockSize);
  const packed = q.weight.data.bytes;
  const scales = new Float32Array(Uint8Array.from(q.scales.data.bytes).buffer);
  const zp = q.zeroPoints?.data.bytes;
  const w = new Float64Array(N * K), step = new Float64Array(N * blocks), zero = new Uint8Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const z = zp ? (zp[n * Math.ceil(blocks / 2) + (b >> 1)]! >> ((b & 1) * 4)) & 15 : 8;
      const scale = scales[n * blocks + b]!;
      (step[n * blocks + b] = scale), (zero[n * blocks + b] = z);
      for (let i = 0; i < blockSize && b * blockSize + i < K; i++) {
        const byte = packed[(n * blocks + b) * (blockSize / 2) + (i >> 1)]!;
        w[n * K + b * blockSize + i] = (((byte >> ((i & 1) * 4)) & 15) - z) * scale;
      }
    }
  }
  return { w, step, zero };
}

// Rows that exercise the edges: Gaussian, all zero, all positive, one outlier, all negative; K = 72 leaves
// a partial third block of 8.
function edgeRows(K: number): Float32Array {
  const g = gaussian(7);
  const rows = [
    () => g(),
    () => 0,
    () => Math.abs(g()) + 0.5,
    (k: number) => (k === 40 ? 25 : g() * 0.1),
    () => -Math.abs(g()) - 0.01,
  ];
  return Float32Array.from({ length: rows.length * K }, (_, i) => rows[Math.floor(i / K)]!(i % K));
}

for (const asymmetric of [true, false]) {
  test(`4-bit ${asymmetric ? "asymmetric" : "symmetric"} blocks: the spec's shapes, every value within half its block's step, zero exact`, () => {
    const [N, K, blockSize] = [5, 72, 32];
    const values = edgeRows(K);
    const q = quantizeInt4(param("fc.weight", values, [N, K]), blockSize, asymmetric);
    assert.deepEqual(q.weight.shape, [N, 3, 16]);
    assert.equal(q.weight.dtype, "uint8");
    assert.deepEqual(q.scales.shape, [N, 3]);
    assert.deepEqual(q.zeroPoints?.shape ?? null, asymmetric ? [N, 2] : null);
    const { w, step, zero } = dequantise(q, N, K, blockSize);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const b = Math.floor(k / blockSize), s = step[n * 3 + b]!;
        const original = values[n * K + k]!;
        assert.ok(Math.abs(w[n * K + k]! - original) <= s / 2 + 1e-7 * Math.abs(original), `row ${n} k ${k}: ${w[n * K + k]} vs ${original} (step ${s})`);
      }
      for (let b = 0; b < 3; b++) {
        // The step is the block's own: its range (with 0) over 15 intervals (asymmetric), or ±max over 14.
        const block = Array.from(values.subarray(n * K + b * blockSize, n * K + Math.min(K, (b + 1) * blockSize)));
        const [lo, hi] = [Math.min(0, ...block), Math.max(0, ...block)];
        const expected = asymmetric ? (hi - lo) / 15 : Math.max(hi, -lo) / 7;
        assert.ok(Math.abs(step[n * 3 + b]! - (expected || 1)) <= 1e-6 * (expected || 1), `row ${n} block ${b}: step ${step[n * 3 + b]} vs ${expected}`);
        if (!asymmetric) assert.equal(zero[n * 3 + b], 8);
      }
    }
    // The all-zero row and the zero entries come back as exactly 0.
    assert.ok(w.subarray(K, 2 * K).every((v) => v === 0));
  });
}

test("reading a 4-bit weight's parts again gives the same bytes (recomputed: scales are not kept once read, a 2.7B model's would be 0.4 GB)", () => {
  const values = edgeRows(72);
  const q = quantizeInt4(param("fc.weight", values, [5, 72]), 32, true);
  const first = Uint8Array.from(q.scales.data.bytes);
  // A second read recomputes the same values (each graph writing an inline copy reads them again).
  assert.deepEqual(Uint8Array.from(q.scales.data.bytes), first);
  assert.deepEqual(Uint8Array.from(q.weight.data.bytes), Uint8Array.from(q.weight.data.bytes));
});

/** `x @ wᵀ + b` in float64. */
function reference(x: Float32Array, w: ArrayLike<number>, b: Float32Array, M: number, N: number, K: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = b[n]!;
    for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
    y[m * N + n] = s;
  }
  return y;
}

async function linearOutput(quantize: "none" | "int4", x: Float32Array, w: Param, b: Param, shape: number[]): Promise<Float32Array> {
  const g = new Graph("linear", { fused: true, quantize });
  g.output(nn.linear(g.input("x", "float32", ["batch", "seq", shape.at(-1)!]), w, b), "y");
  const session = await CompiledGraph.compile(g, { threads: 1 });
  try {
    return (await session.run({ x: new ort.Tensor("float32", x, shape) })).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

for (const [M, what] of [[1, "one row (the decode step's kernel)"], [6, "several rows"]] as const) {
  test(`nn.linear with quantize "int4" (MatMulNBits, ${what}) is x·dequant(W)ᵀ + b up to int8 activations, and near fp32`, async () => {
    const [N, K] = [40, 72];
    const g = gaussian(11);
    const x = Float32Array.from({ length: M * K }, () => g());
    const wValues = Float32Array.from({ length: N * K }, () => g() * 0.05);
    const bValues = Float32Array.from({ length: N }, () => g() * 0.1);
    const [w, b] = [param("fc.weight", wValues, [N, K]), param("fc.bias", bValues, [N])];
    const int4 = await linearOutput("int4", x, w, b, [1, M, K]);
    const fp32 = await linearOutput("none", x, w, b, [1, M, K]);

    // Against exact arithmetic on the dequantised weights: accuracy_level 4 rounds each block of 32
    // activations to int8 with scale max|a|/127, so each product sum is off by at most
    // Σ_blocks (max|a| / 254) · Σ|w| over the block (plus fp32 rounding).
    const { w: dq } = dequantise(quantizeInt4(w, nn.INT4.blockSize, nn.INT4.asymmetric), N, K, nn.INT4.blockSize);
    const exact = reference(x, dq, bValues, M, N, K);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let bound = 1e-5;
      for (let k0 = 0; k0 < K; k0 += nn.INT4.blockSize) {
        let amax = 0, wsum = 0;
        for (let k = k0; k < Math.min(K, k0 + nn.INT4.blockSize); k++) (amax = Math.max(amax, Math.abs(x[m * K + k]!))), (wsum += Math.abs(dq[n * K + k]!));
        bound += (amax / 254) * wsum;
      }
      const i = m * N + n;
      assert.ok(Math.abs(int4[i]! - exact[i]!) <= bound, `[${m}, ${n}]: ${int4[i]} vs ${exact[i]} (bound ${bound})`);
    }

    // Against fp32: 4-bit blocks of 32 Gaussian weights have a step of ≈ 4.1σ/15, so an rms error of
    // step/√12 ≈ 0.08σ a weight and ≈ 8% of the output's rms; 0.12 allows for this small sample. It
    // must be quantised, not fp32 by another route.
    let err = 0, ref = 0;
    for (let i = 0; i < fp32.length; i++) (err += (int4[i]! - fp32[i]!) ** 2), (ref += (fp32[i]! - bValues[i % N]!) ** 2);
    const relative = Math.sqrt(err / ref);
    assert.ok(relative < 0.12 && relative > 0.01, `relative rms error to fp32 ${relative}`);
  });
}
