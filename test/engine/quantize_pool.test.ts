// Quantising on worker threads changes nothing but the time: the ModelProto bytes written with
// worker threads equal those written on the main thread alone, for int8 and 4-bit, for weights a
// worker can read (fp32 in the file) and ones it cannot (fp16, widened in memory), for several
// graphs written at once; a weight that cannot be read fails the write with its error, and nothing hangs.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { ModelWriter, modelProto } from "../../src/engine/onnx/writer.js";
import { CompiledGraph, ort } from "../../src/engine/runtime.js";
import { chain, LINEARS, values, writeCheckpoint } from "../helpers/linear_chain.js";

function tempFolder(t: { after: (fn: () => void) => void }): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "quantize-pool-"));
  t.after(() => fs.rmSync(folder, { recursive: true, force: true }));
  writeCheckpoint(folder);
  return folder;
}

const READABLE = LINEARS.filter((l) => l.dtype === "float32").length;

/** Waits until the workers have delivered every Linear they can read, or fails after 20 s. */
async function allFromWorkers(...writers: ModelWriter[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (writers.some((w) => w.quantizedByWorkers < READABLE)) {
    if (Date.now() > deadline) assert.fail(`workers delivered ${writers.map((w) => w.quantizedByWorkers).join(", ")} of ${READABLE} Linears in 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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
    await allFromWorkers(writer);
    assert.equal(Buffer.compare(await writer.bytes(), alone), 0, "all from workers");
    assert.equal(writer.quantizedByWorkers, READABLE);
  });
}

test("writers started together (compileAll) write what they write one by one, and their sessions run", async (t) => {
  const folder = tempFolder(t);
  const alone = [await modelProto(chain(folder, "int8", "first"), { quantizeThreads: 0 }), await modelProto(chain(folder, "int4", "second"), { quantizeThreads: 0 })];
  const writers = [new ModelWriter(chain(folder, "int8", "first"), { quantizeThreads: 2 }), new ModelWriter(chain(folder, "int4", "second"), { quantizeThreads: 2 })];
  // The workers go on to the second graph before the first is written.
  await allFromWorkers(...writers);
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

test("a writer closed before it writes (its workers' values dropped) still writes the same bytes, on its own", async (t) => {
  const folder = tempFolder(t);
  const alone = await modelProto(chain(folder, "int8"), { quantizeThreads: 0 });
  const writer = new ModelWriter(chain(folder, "int8"), { quantizeThreads: 2 });
  // Busy for a while without yielding: the workers claim and post Linears whose messages are never
  // received, as close() drops them.
  for (const until = Date.now() + 500; Date.now() < until; );
  writer.close();
  assert.equal(Buffer.compare(await writer.bytes(), alone), 0);
});

test("a weight whose file was cut short fails the write naming the tensor and the file, with or without worker threads", async (t) => {
  const folder = tempFolder(t);
  const file = path.join(folder, "model.safetensors");
  const whole = fs.readFileSync(file);
  for (const threads of [0, 2]) {
    const graph = chain(folder, "int8");
    fs.truncateSync(file, whole.length - 4 * 40 * 17); // the last Linear's weight is gone
    try {
      await assert.rejects(modelProto(graph, { quantizeThreads: threads }), (e: Error) => e.message.includes(file) && e.message.includes("tensor f.weight") && /truncated/.test(e.message));
    } finally {
      fs.writeFileSync(file, whole);
    }
  }
});

test("a process whose writers used worker threads (one written, one only closed) exits by itself", (t) => {
  const folder = tempFolder(t);
  const here = path.dirname(new URL(import.meta.url).pathname);
  const script = `
    const { ModelWriter, modelProto } = await import(${JSON.stringify(path.join(here, "../../src/engine/onnx/writer.js"))});
    const { chain } = await import(${JSON.stringify(path.join(here, "../helpers/linear_chain.js"))});
    await modelProto(chain(${JSON.stringify(folder)}, "int8"), { quantizeThreads: 2 });
    new ModelWriter(chain(${JSON.stringify(folder)}, "int4"), { quantizeThreads: 2 }).close();
    console.log("written");`;
  const started = Date.now();
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.equal(child.stderr, "");
  assert.equal(child.stdout.trim(), "written");
  assert.equal(child.status, 0, `exit status ${child.status}, signal ${child.signal}`);
  // Idle workers are unreferenced at once: the process does not wait for their 5 s idle timer.
  assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
});
