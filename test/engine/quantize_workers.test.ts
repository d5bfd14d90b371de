// Quantising on worker threads changes nothing but the time: the ModelProto bytes written with
// worker threads equal those written on the main thread alone, for int8 and 4-bit, for weights a
// worker can read (fp32 in the file) and ones it cannot (fp16, widened in memory), for several
// graphs written at once; a weight that cannot be read fails the write with its error, and nothing hangs.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCheckpoint } from "../../src/engine/checkpoint/index.js";
import { writeSafetensors } from "../../src/engine/checkpoint/safetensors_write.js";
import { Graph, type Quantize } from "../../src/engine/graph.js";
import * as nn from "../../src/engine/nn.js";
import { ModelWriter, modelProto } from "../../src/engine/onnx/writer.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";
import { Weights } from "../../src/engine/weights.js";

/** Linears of assorted shapes (outputs not a multiple of 4, inputs not a multiple of the 4-bit block). */
const LINEARS: Array<{ name: string; out: number; in: number; dtype: "float32" | "float16" }> = [
  { name: "a", out: 64, in: 48, dtype: "float32" },
  { name: "b", out: 30, in: 64, dtype: "float32" },
  { name: "c", out: 48, in: 30, dtype: "float16" },
  { name: "d", out: 96, in: 48, dtype: "float32" },
  { name: "e", out: 17, in: 96, dtype: "float32" },
  { name: "f", out: 40, in: 17, dtype: "float32" },
];

function values(n: number, seed: number): Float32Array {
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

function writeCheckpoint(folder: string): void {
  const tensors = LINEARS.map((l, k) => {
    const v = values(l.out * l.in, k);
    const bytes = l.dtype === "float32" ? new Uint8Array(v.buffer) : toHalf(v);
    return { name: `${l.name}.weight`, dtype: l.dtype, shape: [l.out, l.in], bytes: () => bytes, byteLength: bytes.byteLength };
  });
  writeSafetensors(path.join(folder, "model.safetensors"), tensors);
}

/** A chain of the Linears (each with an activation between) as a graph lowered with `quantize`. */
function chain(folder: string, quantize: Quantize, name = "chain"): Graph {
  const weights = Weights.of(openCheckpoint(folder, { maxInMemoryBytes: 0 }));
  const g = new Graph(name, { fused: true, quantize });
  let x = g.input("x", "float32", ["n", LINEARS[0]!.in]);
  for (const l of LINEARS) x = nn.linear(x, weights.get(`${l.name}.weight`, [l.out, l.in]), null);
  g.output(x, "y");
  return g;
}

function tempFolder(t: { after: (fn: () => void) => void }): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "quantize-workers-"));
  t.after(() => fs.rmSync(folder, { recursive: true, force: true }));
  writeCheckpoint(folder);
  return folder;
}

for (const quantize of ["int8", "int4"] as const) {
  test(`${quantize}: the model bytes written with worker threads equal those written without`, async (t) => {
    const folder = tempFolder(t);
    const alone = await modelProto(chain(folder, quantize), { quantizeThreads: 0 });
    // Workers and the main thread sharing the Linears as they come.
    for (const threads of [1, 2, 3]) {
      const shared = await modelProto(chain(folder, quantize), { quantizeThreads: threads });
      assert.equal(Buffer.compare(shared, alone), 0, `${threads} worker thread(s)`);
    }
    // Every Linear a worker can read quantised by the workers before the writer starts.
    const writer = new ModelWriter(chain(folder, quantize), { quantizeThreads: 2 });
    const readable = LINEARS.filter((l) => l.dtype === "float32").length;
    while (writer.quantizedByWorkers < readable) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(Buffer.compare(await writer.bytes(), alone), 0, "all from workers");
    assert.equal(writer.quantizedByWorkers, readable);
  });
}

test("writers started together (compileAll) write what they write one by one, and their sessions run", async (t) => {
  const folder = tempFolder(t);
  const alone = [await modelProto(chain(folder, "int8", "first"), { quantizeThreads: 0 }), await modelProto(chain(folder, "int4", "second"), { quantizeThreads: 0 })];
  const writers = [new ModelWriter(chain(folder, "int8", "first"), { quantizeThreads: 2 }), new ModelWriter(chain(folder, "int4", "second"), { quantizeThreads: 2 })];
  // Written in reverse order: the second's workers ran ahead while the first waited.
  const second = await writers[1]!.bytes();
  const first = await writers[0]!.bytes();
  assert.equal(Buffer.compare(first, alone[0]!), 0);
  assert.equal(Buffer.compare(second, alone[1]!), 0);

  const compiled = await CompiledGraph.compileAll([chain(folder, "int8", "first"), chain(folder, "int4", "second")], { threads: 2 });
  const x = new ort.Tensor("float32", values(2 * LINEARS[0]!.in, 9), [2, LINEARS[0]!.in]);
  for (const c of compiled) {
    const y = (await c.run({ x })).y!;
    assert.deepEqual(y.dims, [2, LINEARS.at(-1)!.out]);
    assert.ok((y.data as Float32Array).every(Number.isFinite));
    await c.release();
  }
});

test("a weight whose file was cut short fails the write with the file's name, with or without worker threads", async (t) => {
  const folder = tempFolder(t);
  for (const threads of [0, 2]) {
    const graph = chain(folder, "int8");
    const file = path.join(folder, "model.safetensors");
    const whole = fs.readFileSync(file);
    fs.truncateSync(file, whole.length - 4 * 40 * 17); // the last Linear's weight is gone
    try {
      await assert.rejects(modelProto(graph, { quantizeThreads: threads }), (e: Error) => e.message.includes(file) && /truncated/.test(e.message));
    } finally {
      fs.writeFileSync(file, whole);
    }
  }
});
