// Quantising a graph's Linears on the other cores while the writer serialises it. Quantising at
// load time is the largest part of an int8 load (blip-base: ≈ 1.6 s of ≈ 2.3 s, reading the fp32
// weights included), and the writer runs on one thread. Worker threads read their fp32 weights from
// the checkpoint file themselves and work ahead of the writer, within a window so that memory stays
// bounded; the main thread quantises what no worker has claimed, and while it waits for a worker it
// quantises the next free Linear rather than idle. Output is bit-identical: one quantizeArrays.
import * as os from "node:os";
import { Worker } from "node:worker_threads";
import type { WeightData } from "./graph.js";
import { type FileRange, type QuantizedLinear, type QuantizedValues, quantizedOf, type Recipe } from "./quantize.js";

/** A Linear's claim state, in shared memory: each is quantised once, by whoever claims it first. */
export const State = { free: 0, main: 1, worker: 2, posted: 3 } as const;

/** One Linear a worker may quantise: where its fp32 weight is, and its place in the writer's order. */
export interface Task {
  recipe: Recipe;
  outF: number;
  inF: number;
  source: FileRange;
  /** fp32 bytes of the Linears before it (the window is counted in these). */
  start: number;
}

/** What a worker gets: the tasks, the shared claim states and the writer's progress. */
export interface Job {
  id: number;
  tasks: Task[];
  /** Int32 per task: a State. */
  state: SharedArrayBuffer;
  /** Int32 [index the writer is at, 1 once the job is over]. */
  progress: SharedArrayBuffer;
  aheadItems: number;
  aheadBytes: number;
}

export type Result = { job: number; index: number; values: QuantizedValues } | { job: number; index: number; error: string };

/**
 * How far ahead of the writer a thread may quantise: a few Linears, or this many fp32 bytes. Each
 * Linear quantised ahead is held until written (blip-base: 9.4 MB for the largest).
 */
const AHEAD_ITEMS = 4;
const AHEAD_BYTES = 256 * 1024 * 1024;

/** Idle workers are ended after this long: a model's graphs are written one after another. */
const IDLE_MS = 5000;

/** The quantising threads of a process, started on first use and ended when idle. */
class WorkerPool {
  private workers: Worker[] = [];
  private readonly jobs = new Map<number, QuantizeAhead>();
  private nextJob = 1;
  private idle: NodeJS.Timeout | null = null;

  /** Starts `threads` workers now (a thread takes ≈ 50 ms to start), ended if no job comes. */
  prepare(threads: number): void {
    this.grow(threads);
    if (this.jobs.size === 0) this.finish(null);
  }

  start(ahead: QuantizeAhead, tasks: Task[], state: SharedArrayBuffer, progress: SharedArrayBuffer, threads: number): void {
    this.grow(threads);
    const id = this.nextJob++;
    this.jobs.set(id, ahead);
    ahead.jobId = id;
    const job: Job = { id, tasks, state, progress, aheadItems: AHEAD_ITEMS, aheadBytes: AHEAD_BYTES };
    // A job may be given fewer threads than the pool has: the others never see it.
    for (const w of this.workers.slice(0, threads)) w.ref(), w.postMessage(job);
  }

  finish(ahead: QuantizeAhead | null): void {
    if (ahead) this.jobs.delete(ahead.jobId);
    if (this.jobs.size > 0) return;
    for (const w of this.workers) w.unref();
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_MS).unref();
  }

  private grow(threads: number): void {
    if (this.idle) clearTimeout(this.idle), (this.idle = null);
    try {
      while (this.workers.length < threads) this.workers.push(this.spawn());
    } catch {
      // No thread to be had (a resource limit): the writer quantises everything itself.
    }
  }

  private spawn(): Worker {
    const worker = new Worker(new URL("./quantize_worker.js", import.meta.url));
    worker.on("message", (r: Result) => this.jobs.get(r.job)?.received(r));
    // A thread that dies takes its claims with it: the main thread quantises them instead.
    const lost = () => {
      this.workers = this.workers.filter((w) => w !== worker);
      for (const job of this.jobs.values()) job.workerLost();
    };
    worker.on("error", lost);
    worker.on("exit", lost);
    return worker;
  }

  private stop(): void {
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) void w.terminate();
  }
}

const pool = new WorkerPool();

/**
 * The quantised Linears among a graph's initializers (in the writer's order), quantised ahead by
 * `threads` worker threads and the main thread. The writer awaits `before(data)` before it reads the
 * bytes of each initializer, and calls `close()` at the end.
 */
export class QuantizeAhead {
  jobId = 0;
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
    if (items.filter(readable).length < 2) return null;
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
      if (!readable(q)) Atomics.store(this.state, i, State.main);
      const task = { recipe: q.recipe, outF: q.outFeatures, inF: q.inFeatures, source: source ?? { file: "", offset: 0, length: 0 }, start };
      start += q.outFeatures * q.inFeatures * 4;
      return task;
    });
    pool.start(this, tasks, this.state.buffer as SharedArrayBuffer, this.progress.buffer as SharedArrayBuffer, threads);
  }

  /** Resolves once `data`'s bytes can be read: its values supplied by a worker, or left to this thread. */
  async before(data: WeightData): Promise<void> {
    const i = this.index.get(quantizedOf(data)!);
    if (i === undefined || this.ready[i]) return;
    if (i > Atomics.load(this.progress, 0)) {
      Atomics.store(this.progress, 0, i);
      Atomics.notify(this.progress, 0);
    }
    while (!this.ready[i]) {
      if (this.claim(i)) break; // read() quantises it here
      // A worker has it: quantise the next free Linear meanwhile rather than wait idle.
      const next = this.nextFree(i);
      if (next !== null) this.items[next]!.computeNow();
      else await new Promise<void>((resolve) => (this.arrival = resolve));
    }
    this.ready[i] = true;
  }

  /** Ends the job: workers stop claiming, and values still in flight are dropped with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.progress, 1, 1);
    Atomics.notify(this.progress, 0);
    pool.finish(this);
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

  workerLost(): void {
    // Claims of a dead worker that never posted go back to this thread (results posted before it died were delivered first).
    for (let i = 0; i < this.items.length; i++) if (!this.ready[i] && Atomics.load(this.state, i) === State.worker) Atomics.store(this.state, i, State.main);
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

/** A weight a worker can read: stored raw as fp32 in a file. */
function readable(q: QuantizedLinear): boolean {
  return q.fileSource !== null;
}

/** Worker threads for quantising when `threads` cores may be used: the others beside this one, at most 3. */
export function quantizeThreads(threads = os.availableParallelism()): number {
  return Math.max(0, Math.min(threads - 1, 3));
}

/** Starts the quantising threads ahead of the writers that will use them (while a loader reads its config). */
export function prepareQuantizeThreads(threads: number): void {
  if (threads > 0) pool.prepare(threads);
}
