// A chain of Linears over a small safetensors checkpoint written for the test: fp32 weights a
// quantising worker thread can read from the file, and one fp16 weight it cannot (widened in memory).
import * as path from "node:path";
import { openCheckpoint } from "../../src/engine/checkpoint/index.js";
import { writeSafetensors } from "../../src/engine/checkpoint/safetensors_write.js";
import { Graph, type Quantize } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import { Weights } from "../../src/engine/weights.js";

/** Linears of assorted shapes (outputs not a multiple of 4, inputs not a multiple of the 4-bit block). */
export const LINEARS: Array<{ name: string; out: number; in: number; dtype: "float32" | "float16" }> = [
  { name: "a", out: 64, in: 48, dtype: "float32" },
  { name: "b", out: 30, in: 64, dtype: "float32" },
  { name: "c", out: 48, in: 30, dtype: "float16" },
  { name: "d", out: 96, in: 48, dtype: "float32" },
  { name: "e", out: 17, in: 96, dtype: "float32" },
  { name: "f", out: 40, in: 17, dtype: "float32" },
];

export function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37 + seed) * (i % 11 === 0 ? 3 : 0.05);
  return v;
}

function toHalf(v: Float32Array): Uint8Array {
  // Values here are small and normal: the float16 of each, rounded toward zero, is exact enough.
  const out = new Uint16Array(v.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < v.length; i++) {
    f[0] = v[i]!;
    const x = u[0]!;
    const exp = ((x >> 23) & 0xff) - 127 + 15;
    out[i] = exp <= 0 ? (x >>> 16) & 0x8000 : ((x >>> 16) & 0x8000) | (exp << 10) | ((x >> 13) & 0x3ff);
  }
  return new Uint8Array(out.buffer);
}

export function writeCheckpoint(folder: string): void {
  const tensors = LINEARS.map((l, k) => {
    const v = values(l.out * l.in, k);
    const bytes = l.dtype === "float32" ? new Uint8Array(v.buffer) : toHalf(v);
    return { name: `${l.name}.weight`, dtype: l.dtype, shape: [l.out, l.in], bytes: () => bytes, byteLength: bytes.byteLength };
  });
  writeSafetensors(path.join(folder, "model.safetensors"), tensors);
}

/** A chain of the Linears (each with an activation between) as a graph lowered with `quantize`. */
export function chain(folder: string, quantize: Quantize, name = "chain"): Graph {
  const weights = Weights.of(openCheckpoint(folder, { maxInMemoryBytes: 0 }));
  const g = new Graph(name, { fused: true, quantize });
  let x = g.input("x", "float32", ["n", LINEARS[0]!.in]);
  for (const l of LINEARS) x = nn.linear(x, weights.get(`${l.name}.weight`, [l.out, l.in]), null);
  g.output(x, "y");
  return g;
}
