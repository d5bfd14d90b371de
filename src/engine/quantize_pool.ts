// Quantising a graph's Linears on the other cores while the writer serialises it. Quantising at
// load time is the largest part of an int8 load (blip-base: ≈ 1.6 s of ≈ 2.3 s, reading the fp32
// weights included), and the writer runs on one thread. Worker threads (quantize_thread.ts) read
// their fp32 weights from the checkpoint file themselves and work ahead of the writer, within a
// window so that memory stays bounded; the main thread quantises what no worker has claimed, and
// while it waits for a worker it quantises the next free Linear rather than idle. Output is
// bit-identical: every thread runs the one quantizeArrays.
import * as os from "node:os";
import { Worker } from "node:worker_threads";
import type { FileRange } from "./checkpoint/read_float32.js";
import type { WeightData } from "./graph.js";
import { type QuantizedLinear, type QuantizedValues, quantizedOf, type Recipe } from "./quantize.js";

/**
 * A Linear's claim state, in shared memory: each is quantised once, by whoever claims it first.
 * Worker `id` claims with `claimedBy(id)` and marks it `postedBy(id)` once its values are sent, so the
 * claims of a worker that dies can be told from the others'.
 */
export const State = { free: 0, main: 1 } as const;
export const claimedBy = (worker: number) => 2 + 2 * worker;
export const postedBy = (worker: number) => 3 + 2 * worker;
const workerOf = (state: number) => (state >= 2 ? (state - 2) >> 1 : -1);

/** One Linear a worker may quantise: where its fp32 weight is, and its place in the writer's order. */
export interface Task {
  name: string;
  recipe: Recipe;
  outF: number;
  inF: number;
  /** null: not readable by a worker (the main thread has claimed it). */
  source: FileRange | null;
  /** fp32 bytes of the Linears before it (the window is counted in these). */
  start: number;
}

/** What a worker gets: its id, the tasks, the shared claim states and the writer's progress. */
export interface Job {
  id: number;
  worker: number;
  tasks: Task[];
  /** Int32 per task: a claim state. */
  state: SharedArrayBuffer;
  /** Int32 [index the writer is at, 1 once the job is over]. */
  progress: SharedArrayBuffer;
  aheadItems: number;
  aheadBytes: number;
}

export type Result = { job: number; index: number; values: QuantizedValues } | { job: number; index: number; error: string };

/**
 * How far ahead of the writer a worker may quantise: the next few Linears, and beyond them as far as
 * this many fp32 bytes (whichever reaches further). Values quantised ahead are held until written:
 * ≤ 64 MB of int8 for 256 MB of fp32. The window is wide so that workers get well into the next graph
 * while onnxruntime builds the previous one's session (CompiledGraph.compileAll).
 */
const AHEAD_ITEMS = 4;
const AHEAD_BYTES = 256 * 1024 * 1024;

/** Idle workers are ended after this long: a model's graphs are written one after another. */
const IDLE_MS = 5000;

/** The quantising threads of a process, started on first use and ended when idle. */
class WorkerPool {
  private workers: Array<{ id: number; thread: Worker }> = [];
  private readonly jobs = new Map<number, QuantizeAhead>();
  private nextJob = 1;
  private nextWorker = 0;
  private idle: NodeJS.Timeout | null = null;

  /** Starts `threads` workers now (a thread takes ≈ 50 ms to start), ended if no job comes. */
  prepare(threads: number): void {
    this.grow(threads);
    if (this.jobs.size === 0) this.finish(null);
  }

  start(ahead: QuantizeAhead, tasks: Task[], state: SharedArrayBuffer, progress: SharedArrayBuffer, threads: number): number {
    this.grow(threads);
    const id = this.nextJob++;
    this.jobs.set(id, ahead);
    // A job may be given fewer threads than the pool has: the others never see it.
    for (const { id: worker, thread } of this.workers.slice(0, threads)) {
      thread.ref();
      const job: Job = { id, worker, tasks, state, progress, aheadItems: AHEAD_ITEMS, aheadBytes: AHEAD_BYTES };
      thread.postMessage(job);
    }
    return id;
  }

  finish(jobId: number | null): void {
    if (jobId !== null) this.jobs.delete(jobId);
    if (this.jobs.size > 0) return;
    for (const w of this.workers) w.thread.unref();
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_MS).unref();
  }

  private grow(threads: number): void {
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = null;
    }
    try {
      while (this.workers.length < threads) this.workers.push(this.spawn());
    } catch {
      // No thread to be had (a resource limit): the writer quantises everything itself.
    }
  }

  private spawn(): { id: number; thread: Worker } {
    const entry = { id: this.nextWorker++, thread: new Worker(new URL("./quantize_thread.js", import.meta.url)) };
    entry.thread.on("message", (r: Result) => this.jobs.get(r.job)?.received(r));
    // A thread that dies takes its claims with it: the main thread quantises them instead. One ended
    // by stop() is no longer a member and had no job.
    const lost = () => {
      if (!this.workers.includes(entry)) return;
      this.workers = this.workers.filter((w) => w !== entry);
      for (const job of this.jobs.values()) job.workerLost(entry.id);
    };
    entry.thread.on("error", lost);
    entry.thread.on("exit", lost);
    return entry;
  }

  private stop(): void {
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) void w.thread.terminate();
  }
}

const pool = new WorkerPool();

/**
 * The quantised Linears among a graph's initializers (in the writer's order), quantised ahead by
 * `threads` worker threads and the main thread. The writer awaits `before(data)` before it reads the
 * bytes of each initializer, and calls `close()` at the end (after which anything not yet delivered
 * is quantised on the main thread).
 */
export class QuantizeAhead {
  private readonly jobId: number;
  private readonly items: QuantizedLinear[];
  private readonly index = new Map<QuantizedLinear, number>();
  private readonly state: Int32Array;
  private readonly progress: Int32Array;
  /** Items whose values are in place (supplied) or that the main thread claimed. */
  private readonly ready: boolean[];
  private arrival: (() => void) | null = null;
  private closed = false;
  /** Linears whose values came from a worker thread (for tests and measurements). */
  fromWorkers = 0;

  /** Null when there is nothing to share: no workers, or fewer than two Linears a worker can read. */
  static start(datas: readonly WeightData[], threads: number): QuantizeAhead | null {
    if (threads < 1) return null;
    const items = [...new Set(datas.map(quantizedOf).filter((q): q is QuantizedLinear => q !== undefined))];
    if (items.filter((q) => q.fileSource !== null).length < 2) return null;
    return new QuantizeAhead(items, threads);
  }

  private constructor(items: QuantizedLinear[], threads: number) {
    this.items = items;
    items.forEach((q, i) => this.index.set(q, i));
    this.state = new Int32Array(new SharedArrayBuffer(4 * items.length));
    this.progress = new Int32Array(new SharedArrayBuffer(8));
    this.ready = items.map(() => false);
    let start = 0;
    const tasks = items.map((q, i): Task => {
      const source = q.fileSource;
      // Weights a worker cannot read as fp32 from a file (widened fp16, in memory) stay on this thread.
      if (!source) Atomics.store(this.state, i, State.main);
      const task = { name: q.from.name, recipe: q.recipe, outF: q.outFeatures, inF: q.inFeatures, source, start };
      start += q.outFeatures * q.inFeatures * 4;
      return task;
    });
    this.jobId = pool.start(this, tasks, this.state.buffer as SharedArrayBuffer, this.progress.buffer as SharedArrayBuffer, threads);
  }

  /** Resolves once `data`'s bytes can be read: its values supplied by a worker, or left to this thread. */
  async before(data: WeightData): Promise<void> {
    const q = quantizedOf(data);
    const i = q ? this.index.get(q) : undefined;
    if (i === undefined || this.ready[i]) return;
    if (i > Atomics.load(this.progress, 0)) {
      Atomics.store(this.progress, 0, i);
      Atomics.notify(this.progress, 0);
    }
    // Once closed, values still in flight are dropped: the bytes getter quantises here.
    while (!this.ready[i] && !this.closed) {
      if (this.claim(i)) break;
      // A worker has it: quantise the next free Linear meanwhile rather than wait idle.
      const next = this.nextFree(i);
      if (next !== null) this.items[next]!.computeNow();
      else await new Promise<void>((resolve) => (this.arrival = resolve));
    }
    this.ready[i] = true;
  }

  /** Ends the job: workers stop claiming, and a writer waiting for one goes on by itself. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.progress, 1, 1);
    Atomics.notify(this.progress, 0);
    pool.finish(this.jobId);
    this.wake();
  }

  received(r: Result): void {
    if ("values" in r) {
      this.items[r.index]!.supply(r.values);
      this.ready[r.index] = true;
      this.fromWorkers++;
    } else {
      Atomics.store(this.state, r.index, State.main); // quantised here, where its error is thrown
    }
    this.wake();
  }

  /** Worker `id` died: what it claimed and has not delivered goes to this thread. */
  workerLost(id: number): void {
    for (let i = 0; i < this.items.length; i++) {
      if (!this.ready[i] && workerOf(Atomics.load(this.state, i)) === id) Atomics.store(this.state, i, State.main);
    }
    this.wake();
  }

  private wake(): void {
    const resolve = this.arrival;
    this.arrival = null;
    resolve?.();
  }

  /** Whether item `i` is (now) this thread's to quantise. */
  private claim(i: number): boolean {
    const s = Atomics.compareExchange(this.state, i, State.free, State.main);
    return s === State.free || s === State.main;
  }

  /** Claims the first free item after `i` within the window, if any. */
  private nextFree(i: number): number | null {
    for (let j = i + 1; j < this.items.length && j - i <= AHEAD_ITEMS; j++) {
      if (Atomics.compareExchange(this.state, j, State.free, State.main) === State.free) return j;
    }
    return null;
  }
}

/** Worker threads for quantising when `threads` cores may be used: the others beside this one, at most 3. */
export function quantizeThreads(threads = os.availableParallelism()): number {
  return Math.max(0, Math.min(threads - 1, 3));
}

/** Starts the quantising threads ahead of the writers that will use them (while a loader reads its config). */
export function prepareQuantizeThreads(threads: number): void {
  if (threads > 0) pool.prepare(threads);
}
