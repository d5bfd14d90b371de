// The machine's memory read bandwidth as onnxruntime sees it: a ReduceSum over 512 MB of float32
// (2 threads). Decoding one token of BLIP is a pass over the decoder weights, so this bounds it.
// Usage: node dist/src/bench/bandwidth.js
import * as os from "node:os";
import { Graph } from "../engine/graph.js";
import * as op from "../engine/ops.js";
import { CompiledGraph, ort } from "../engine/runtime.js";

const rows = 64;
const cols = (512 * 2 ** 20) / 4 / rows;
const g = new Graph("bandwidth");
g.output(op.reduceSum(g.input("x", "float32", [rows, cols]), [1]), "y");
for (const threads of [1, os.availableParallelism()]) {
  const session = await CompiledGraph.compile(g, { threads });
  const x = new ort.Tensor("float32", new Float32Array(rows * cols).fill(1), [rows, cols]);
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t = performance.now();
    await session.run({ x });
    times.push(performance.now() - t);
  }
  const best = Math.min(...times.slice(1)) / 1000;
  console.log(`threads ${threads}: ${((rows * cols * 4) / best / 1e9).toFixed(1)} GB/s read`);
  await session.release();
}
