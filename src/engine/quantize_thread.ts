// A quantising worker thread (see quantize_pool.ts): it claims the Linears of a job that the writer
// has not reached, reads their fp32 weights from the checkpoint file itself and posts the quantised
// arrays back, transferred. Claims go through shared memory, so the main thread and every worker
// take each Linear exactly once without asking one another.
import { parentPort } from "node:worker_threads";
import { readFloat32 } from "./checkpoint/read_float32.js";
import { quantizeArrays } from "./quantize.js";
import { claimedBy, type Job, postedBy, type Result, State } from "./quantize_pool.js";

parentPort!.on("message", (job: Job) => run(job));

function run(job: Job): void {
  const state = new Int32Array(job.state);
  const progress = new Int32Array(job.progress);
  for (let i = 0; i < job.tasks.length; i++) {
    if (!awaitWindow(job, progress, i)) return;
    if (Atomics.compareExchange(state, i, State.free, claimedBy(job.worker)) !== State.free) continue;
    const task = job.tasks[i]!;
    let result: Result;
    try {
      const values = quantizeArrays(task.recipe, readFloat32(task.source!, task.name), task.outF, task.inF);
      result = { job: job.id, index: i, values };
      parentPort!.postMessage(result, Object.values(values).map((v) => v.buffer as ArrayBuffer));
    } catch (error) {
      // The main thread quantises it itself and reports the error there, in the load's own words.
      result = { job: job.id, index: i, error: String(error) };
      parentPort!.postMessage(result);
    }
    Atomics.store(state, i, postedBy(job.worker));
  }
}

/** Waits until Linear `i` is within the job's window ahead of the writer; false once the job is over. */
function awaitWindow(job: Job, progress: Int32Array, i: number): boolean {
  for (;;) {
    if (Atomics.load(progress, 1) !== 0) return false;
    const at = Atomics.load(progress, 0);
    if (i - at <= job.aheadItems || job.tasks[i]!.start - job.tasks[at]!.start <= job.aheadBytes) return true;
    Atomics.wait(progress, 0, at, 1000);
  }
}
