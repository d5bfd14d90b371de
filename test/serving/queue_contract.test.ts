// One contract for the JobQueue interface, run against both backends: the embedded SQLite queue (a
// database file in a temp folder) and Redis + BullMQ (a real redis-server on loopback).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openDatabase, type Database } from "../../src/serving/db.js";
import { BullJobQueue } from "../../src/serving/queue/bullmq.js";
import { JobInterruptedError, type JobQueue, JobTimeoutError, QueueFullError, SqliteJobQueue } from "../../src/serving/queue/index.js";
import { Redis } from "ioredis";
import { redisSkip, startRedis, type RedisServer } from "../helpers/redis.js";

/** Storage that outlives queue instances: `open()` gives a new queue over the same jobs. */
interface QueueStore {
  open(opts?: { maxDepth?: number; retentionSeconds?: number }): JobQueue;
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy, for at most `ms`. */
async function eventually<T>(check: () => Promise<T | null | undefined | false>, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A promise with its resolve function, to hold handlers at a known point. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

function queueContract(backend: string, makeStore: () => Promise<QueueStore>, setup?: { before: () => Promise<void>; after: () => Promise<void> }, skip: false | string = false) {
  describe(`JobQueue contract: ${backend}`, { skip }, () => {
    if (setup) {
      before(setup.before);
      after(setup.after);
    }
    let store: QueueStore;
    let queue: JobQueue;
    const fresh = async (opts?: { maxDepth?: number; retentionSeconds?: number }) => {
      store = await makeStore();
      queue = store.open(opts);
      return queue;
    };
    const cleanup = async () => {
      await queue.close();
      await store.dispose();
    };

    test("enqueue, get and list (by kind, state, limit); depth counts queued jobs", async () => {
      await fresh();
      try {
        const a1 = await queue.enqueue("alpha", { n: 1, image: Buffer.from("hi").toString("base64") });
        const a2 = await queue.enqueue("alpha", { n: 2 });
        const b1 = await queue.enqueue("beta", { n: 3 });
        assert.equal(a1.state, "queued");
        assert.notEqual(a1.id, a2.id);
        const got = await queue.get(a1.id);
        assert.ok(got);
        assert.deepEqual(
          { kind: got.kind, payload: got.payload, state: got.state, progress: got.progress, result: got.result, error: got.error, attempts: got.attempts },
          { kind: "alpha", payload: { n: 1, image: "aGk=" }, state: "queued", progress: 0, result: null, error: null, attempts: 0 },
        );
        assert.ok(!Number.isNaN(Date.parse(got.createdAt)) && !Number.isNaN(Date.parse(got.updatedAt)));
        assert.equal(await queue.get("alpha.00000000-0000-0000-0000-000000000000"), null);
        assert.equal(await queue.get("no such job"), null);
        assert.deepEqual((await queue.list({ kind: "alpha" })).map((j) => j.id).sort(), [a1.id, a2.id].sort());
        assert.deepEqual((await queue.list({ kind: "beta" })).map((j) => j.id), [b1.id]);
        assert.equal((await queue.list({ state: "queued" })).length, 3);
        assert.equal((await queue.list({ state: "done" })).length, 0);
        assert.equal((await queue.list({ limit: 2 })).length, 2);
        assert.equal(await queue.depth(), 3);
        await assert.rejects(queue.enqueue("bad kind:1", {}), /job kind "bad kind:1" must be 1-64 letters/);
        assert.equal((await queue.enqueue("model.reload", {})).kind, "model.reload");
      } finally {
        await cleanup();
      }
    });

    test("ids of unknown kinds or not made by the queue: get gives null, list gives [], cancel gives false", async () => {
      await fresh();
      try {
        const real = await queue.enqueue("alpha", { n: 1 });
        const uuid = randomUUID();
        const madeUp = [`made-up.${uuid}`, `alpha.${uuid}`, `alpha.${uuid.toUpperCase()}`, `alpha.${"x".repeat(36)}`, `.${uuid}`, uuid, "alpha.", `${real.id}x`];
        for (const id of madeUp) {
          assert.equal(await queue.get(id), null, id);
          assert.equal(await queue.cancel(id), false, id);
          await assert.rejects(queue.waitFor(id, 100), /no job/, id);
        }
        assert.deepEqual(await queue.list({ kind: "made-up" }), []);
        assert.deepEqual(await queue.list({ kind: "made-up", state: "cancelled" }), []);
        assert.deepEqual((await queue.list()).map((j) => j.id), [real.id]);
        assert.equal((await queue.get(real.id))?.state, "queued");
      } finally {
        await cleanup();
      }
    });

    test("a worker runs the job: progress is visible while running, the result is stored", async () => {
      await fresh();
      try {
        const release = gate();
        await queue.work<{ a: number; b: number }, { sum: number }>("add", async (job, ctx) => {
          await ctx.progress(0.5);
          await release.opened;
          return { sum: job.payload.a + job.payload.b };
        });
        const job = await queue.enqueue("add", { a: 2, b: 3 });
        const running = await eventually(async () => {
          const j = await queue.get(job.id);
          return j?.state === "running" && j.progress === 0.5 && j;
        }, "progress 0.5 while running");
        assert.equal(running.attempts, 1);
        assert.equal(await queue.depth(), 1);
        release.open();
        const done = await queue.waitFor(job.id, 5000);
        assert.equal(done.state, "done");
        assert.deepEqual(done.result, { sum: 5 });
        assert.equal(done.progress, 1);
        assert.equal(done.error, null);
        assert.equal(await queue.depth(), 0);
        assert.deepEqual((await queue.list({ state: "done" })).map((j) => j.id), [job.id]);
      } finally {
        await cleanup();
      }
    });

    test("progress details: a handler's last reported details are visible while running and after; progress without details keeps them", async () => {
      await fresh();
      try {
        const release = gate();
        await queue.work("steps", async (_job, ctx) => {
          await ctx.progress(0.25, { epoch: 1, loss: 2.5 });
          await ctx.progress(0.5);
          await release.opened;
          await ctx.progress(0.9, { epoch: 2, loss: 1.25 });
          return null;
        });
        const job = await queue.enqueue("steps", {});
        assert.equal(job.details, null);
        const running = await eventually(async () => {
          const j = await queue.get(job.id);
          return j?.state === "running" && j.progress === 0.5 && j;
        }, "progress 0.5 while running");
        assert.deepEqual(running.details, { epoch: 1, loss: 2.5 });
        release.open();
        const done = await queue.waitFor(job.id, 5000);
        assert.deepEqual(done.details, { epoch: 2, loss: 1.25 });
      } finally {
        await cleanup();
      }
    });

    test("an interrupted handler (JobInterruptedError: its process is stopping) puts its job back with its attempt given back; the queue takes no more of the kind, the next one finishes it", async () => {
      await fresh();
      try {
        let runs = 0;
        const handler = async () => {
          runs += 1;
          if (runs === 1) throw new JobInterruptedError("the process is stopping");
          return { runs };
        };
        await queue.work("resumable", handler);
        const job = await queue.enqueue("resumable", {});
        await eventually(async () => runs === 1 && (await queue.get(job.id))?.state === "queued", "the job back in the queue");
        await sleep(300); // several polls: it is not claimed again
        const back = (await queue.get(job.id))!;
        assert.deepEqual([runs, back.state, back.attempts], [1, "queued", 0]);
        await queue.close();
        queue = store.open();
        await queue.work("resumable", handler);
        const done = await queue.waitFor(job.id, 10_000);
        assert.deepEqual([done.state, done.result, done.attempts], ["done", { runs: 2 }, 1], done.error ?? "");
      } finally {
        await cleanup();
      }
    });

    test("a failing handler: retried up to maxAttempts, then failed with its error message", async () => {
      await fresh();
      try {
        const calls = new Map<string, number>();
        await queue.work<{ tag: string }, never>("flaky", async (job) => {
          const n = (calls.get(job.payload.tag) ?? 0) + 1;
          calls.set(job.payload.tag, n);
          throw new Error(`boom ${job.payload.tag} #${n}`);
        });
        const once = await queue.enqueue("flaky", { tag: "once" });
        const twice = await queue.enqueue("flaky", { tag: "twice" }, { maxAttempts: 2 });
        const [a, b] = await Promise.all([queue.waitFor(once.id, 5000), queue.waitFor(twice.id, 5000)]);
        assert.deepEqual([a.state, a.error, a.attempts, a.result], ["failed", "boom once #1", 1, null]);
        assert.deepEqual([b.state, b.error, b.attempts], ["failed", "boom twice #2", 2]);
        assert.deepEqual(Object.fromEntries(calls), { once: 1, twice: 2 });
        assert.equal((await queue.list({ state: "failed" })).length, 2);
      } finally {
        await cleanup();
      }
    });

    test("a job that fails once and then succeeds ends done after 2 attempts", async () => {
      await fresh();
      try {
        let calls = 0;
        await queue.work("retry", async () => {
          if (++calls === 1) throw new Error("transient");
          return "ok";
        });
        const job = await queue.enqueue("retry", {}, { maxAttempts: 3 });
        const done = await queue.waitFor(job.id, 5000);
        assert.deepEqual([done.state, done.result, done.attempts, calls], ["done", "ok", 2, 2]);
      } finally {
        await cleanup();
      }
    });

    test("cancel: a queued job is never run; a running job's signal fires; finished jobs cannot be cancelled", async () => {
      await fresh();
      try {
        const queued = await queue.enqueue("slow", { which: "queued" });
        assert.equal(await queue.cancel(queued.id), true);
        assert.equal((await queue.get(queued.id))?.state, "cancelled");
        assert.equal((await queue.waitFor(queued.id, 1000)).state, "cancelled");
        assert.equal(await queue.cancel(queued.id), false, "already cancelled");
        assert.equal(await queue.cancel("no such job"), false);
        assert.equal(await queue.depth(), 0);

        const seen: string[] = [];
        let aborted = false;
        await queue.work<{ which: string }, string>("slow", async (job, ctx) => {
          seen.push(job.payload.which);
          if (job.payload.which === "quick") return "quick";
          // Bounded: the test cancels well before 5 s.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            ctx.signal.addEventListener("abort", () => (clearTimeout(timer), (aborted = true), resolve()));
          });
          return "ignored";
        });
        const quick = await queue.enqueue("slow", { which: "quick" });
        assert.equal((await queue.waitFor(quick.id, 5000)).state, "done");
        const running = await queue.enqueue("slow", { which: "running" });
        await eventually(async () => (await queue.get(running.id))?.state === "running", "the job to start");
        assert.equal(await queue.cancel(running.id), true);
        const final = await queue.waitFor(running.id, 5000);
        assert.equal(final.state, "cancelled");
        await eventually(async () => aborted, "the handler's abort signal");
        assert.deepEqual(seen, ["quick", "running"], "the cancelled queued job never reached the handler");
        assert.equal(await queue.cancel(quick.id), false, "done jobs stay done");
        assert.deepEqual((await queue.list({ state: "cancelled" })).map((j) => j.id).sort(), [queued.id, running.id].sort());
        assert.deepEqual((await queue.list()).map((j) => j.id).sort(), [queued.id, quick.id, running.id].sort(), "each job listed once");
      } finally {
        await cleanup();
      }
    });

    test("QueueFullError at maxDepth (queued + running), with a Retry-After hint", async () => {
      await fresh({ maxDepth: 2 });
      try {
        await queue.enqueue("k", { n: 1 });
        const second = await queue.enqueue("k", { n: 2 });
        await assert.rejects(queue.enqueue("k", { n: 3 }), (e: unknown) => {
          assert.ok(e instanceof QueueFullError);
          assert.ok(e.retryAfterSeconds >= 1);
          assert.match(e.message, /full/);
          return true;
        });
        assert.equal(await queue.depth(), 2);
        // Room again once a job leaves the queued/running states.
        await queue.cancel(second.id);
        await queue.enqueue("k", { n: 4 });
        assert.equal(await queue.depth(), 2);
      } finally {
        await cleanup();
      }
    });

    test("a job's input fields: the handler sees them, they are gone once the job ends (done, failed, cancelled); the result stays", async () => {
      await fresh();
      try {
        const inputFields = ["images"];
        const seen: unknown[] = [];
        await queue.work<{ images: string[]; fail?: boolean }, number>("in", async (job) => {
          seen.push(job.payload);
          if (job.payload.fail) throw new Error("as asked");
          return job.payload.images.length;
        });
        const waiting = await queue.enqueue("held", { owner: "k1", images: ["aaaa"] }, { inputFields });
        assert.deepEqual((await queue.get(waiting.id))?.payload, { owner: "k1", images: ["aaaa"] }, "a queued job has its input");
        const ok = await queue.enqueue("in", { owner: "k1", images: ["aGk=", "aGk="] }, { inputFields });
        const bad = await queue.enqueue("in", { images: ["aGk="], fail: true }, { inputFields, maxAttempts: 2 });
        const done = await queue.waitFor(ok.id, 5000);
        assert.deepEqual([done.state, done.result, done.payload], ["done", 2, { owner: "k1" }]);
        const failed = await queue.waitFor(bad.id, 5000);
        assert.deepEqual([failed.state, failed.attempts, failed.payload], ["failed", 2, { fail: true }]);
        assert.equal(seen.length, 3, "the retry saw its input again");
        assert.ok(seen.every((p) => Array.isArray((p as { images?: unknown }).images)));
        assert.equal(await queue.cancel(waiting.id), true);
        assert.deepEqual((await queue.get(waiting.id))?.payload, { owner: "k1" });
        // (BullMQ deletes the input on the worker's events, just after the job's end.)
        await eventually(async () => ((await queue.get(ok.id))?.payload as object) && !("images" in ((await queue.get(bad.id))!.payload as object)), "the inputs to go");
      } finally {
        await cleanup();
      }
    });

    test("finished jobs are removed after the retention; queued ones stay", async () => {
      await fresh({ retentionSeconds: 1 });
      try {
        await queue.work<{ n: number }, number>("short", async (job) => job.payload.n);
        const done = await queue.enqueue("short", { n: 1 });
        const queued = await queue.enqueue("waits", { n: 2 });
        assert.equal((await queue.waitFor(done.id, 5000)).result, 1);
        assert.equal((await queue.get(done.id))?.state, "done", "readable right after it ended");
        await eventually(async () => (await queue.get(done.id)) === null, "the finished job to be removed", 6000);
        assert.equal((await queue.get(queued.id))?.state, "queued", "retention applies to finished jobs only");
      } finally {
        await cleanup();
      }
    });

    test("waitFor rejects with JobTimeoutError when nothing runs the job", async () => {
      await fresh();
      try {
        const job = await queue.enqueue("nobody", {});
        const started = Date.now();
        await assert.rejects(queue.waitFor(job.id, 150), JobTimeoutError);
        assert.ok(Date.now() - started < 2000);
        await assert.rejects(queue.waitFor("no such job", 150), /no job/);
      } finally {
        await cleanup();
      }
    });

    test("close() lets the running job finish and leaves queued jobs queued", async () => {
      await fresh();
      const release = gate();
      await queue.work("job", async (job) => {
        await release.opened;
        return `finished ${(job.payload as { n: number }).n}`;
      });
      const first = await queue.enqueue("job", { n: 1 });
      await eventually(async () => (await queue.get(first.id))?.state === "running", "the first job to start");
      const second = await queue.enqueue("job", { n: 2 });
      let closed = false;
      const closing = queue.close().then(() => (closed = true));
      await sleep(100);
      assert.equal(closed, false, "close() waits for the running job");
      release.open();
      await closing;
      const reopened = store.open();
      try {
        const a = await reopened.get(first.id);
        const b = await reopened.get(second.id);
        assert.deepEqual([a?.state, a?.result], ["done", "finished 1"]);
        assert.equal(b?.state, "queued");
      } finally {
        await reopened.close();
        await store.dispose();
      }
    });
  });
}

// ---- the SQLite backend ------------------------------------------------------------------------

const tempDirs: string[] = [];
after(() => tempDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-queue-"));
  tempDirs.push(dir);
  return path.join(dir, "captioner.db");
}

queueContract("SQLite", async () => {
  const file = tempDb();
  const dbs: Database[] = [];
  return {
    open: (opts) => {
      const db = openDatabase(file);
      dbs.push(db);
      return new SqliteJobQueue(db, { ...opts, pollMs: 20 });
    },
    dispose: async () => dbs.forEach((db) => db.close()),
  };
});

describe("SqliteJobQueue: space of finished jobs", () => {
  /** The database file and its WAL, as bytes. */
  const fileBytes = (file: string) => Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));

  test("an ended job's input is gone from the file, its result stays, and the file shrinks", async () => {
    const file = tempDb();
    const db = openDatabase(file);
    const queue = new SqliteJobQueue(db, { pollMs: 20 });
    try {
      // 3 jobs of 2 MB of base64 each, with a marker to look for in the file.
      const marker = `MARKER${randomUUID().replace(/-/g, "")}`;
      const image = marker + Buffer.alloc(1.5 * 1024 * 1024, 7).toString("base64");
      await queue.work<{ images: string[] }, string>("cap", async (job) => `saw ${job.payload.images.length}`);
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await queue.enqueue("cap", { images: [image] }, { inputFields: ["images"] })).id);
      db.pragma("wal_checkpoint(TRUNCATE)");
      const full = fs.statSync(file).size;
      assert.ok(full > 6e6, `the inputs are in the file (${full} bytes)`);
      for (const id of ids) assert.equal((await queue.waitFor(id, 5000)).result, "saw 1");
      const report = queue.sweep();
      assert.equal(report.removed, 0, "retention not over: nothing removed");
      assert.ok(report.freedPages > 1000, `the inputs' pages are given back (${report.freedPages})`);
      const after = fs.statSync(file).size;
      assert.ok(after < full / 4, `the file shrinks: ${full} → ${after} bytes`);
      assert.equal(fileBytes(file).indexOf(marker), -1, "no trace of the input in the database file or its WAL");
      assert.deepEqual((await queue.get(ids[0]!))?.result, "saw 1");
    } finally {
      await queue.close();
      db.close();
    }
  });

  test("a database made before the input column and incremental vacuum is converted on open", async () => {
    const file = tempDb();
    // A file as a captioner before the input column left it (migration 5 added the column): no
    // auto_vacuum, caption images inside the payload.
    const old = openDatabase(file);
    old.pragma("auto_vacuum = NONE");
    old.exec("VACUUM; ALTER TABLE jobs DROP COLUMN input; PRAGMA user_version = 4;");
    const insert = old.prepare("INSERT INTO jobs (id, kind, payload, state, result, created_at, updated_at) VALUES (?, 'caption', ?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')");
    insert.run("old-done", JSON.stringify({ model: "blip", images: ["aGk="], options: {} }), "done", JSON.stringify({ captions: [[{ text: "hi" }]] }));
    insert.run("old-queued", JSON.stringify({ model: "blip", images: ["aGk=", "aG8="], options: {}, owner: "k" }), "queued", null);
    assert.equal(old.pragma("auto_vacuum", { simple: true }), 0);
    old.close();

    const db = openDatabase(file);
    const queue = new SqliteJobQueue(db);
    try {
      assert.equal(db.pragma("auto_vacuum", { simple: true }), 2, "converted to incremental vacuum");
      assert.deepEqual((await queue.get("old-done"))?.payload, { model: "blip", options: {} });
      assert.deepEqual((await queue.get("old-done"))?.result, { captions: [[{ text: "hi" }]] });
      assert.deepEqual((await queue.get("old-queued"))?.payload, { model: "blip", images: ["aGk=", "aG8="], options: {}, owner: "k" });
      const row = db.prepare("SELECT payload, input FROM jobs WHERE id = 'old-queued'").get() as { payload: string; input: string };
      assert.deepEqual([JSON.parse(row.payload), JSON.parse(row.input)], [{ model: "blip", options: {}, owner: "k" }, { images: ["aGk=", "aG8="] }], "the queued job's images moved to its input");
    } finally {
      await queue.close();
      db.close();
    }
  });
});

describe("SqliteJobQueue persistence", () => {
  test("queued jobs survive closing and reopening the database file", async () => {
    const file = tempDb();
    let db = openDatabase(file);
    let queue = new SqliteJobQueue(db);
    const job = await queue.enqueue("persist", { text: "héllo" });
    await queue.close();
    db.close();
    db = openDatabase(file);
    queue = new SqliteJobQueue(db, { pollMs: 20 });
    try {
      assert.deepEqual(await queue.get(job.id), job);
      await queue.work<{ text: string }, string>("persist", async (j) => j.payload.text.toUpperCase());
      assert.equal((await queue.waitFor(job.id, 5000)).result, "HÉLLO");
    } finally {
      await queue.close();
      db.close();
    }
  });

  test("a job left running by a killed process is queued again on open and then completes", async () => {
    const file = tempDb();
    const db0 = openDatabase(file);
    const job = await new SqliteJobQueue(db0).enqueue("crash", { n: 7 });
    db0.close();
    // A real process claims the job and is SIGKILLed while its handler runs.
    const queueModule = new URL("../../src/serving/queue/sqlite.js", import.meta.url).href;
    const dbModule = new URL("../../src/serving/db.js", import.meta.url).href;
    const script = `
      const { SqliteJobQueue } = await import(${JSON.stringify(queueModule)});
      const { openDatabase } = await import(${JSON.stringify(dbModule)});
      const q = new SqliteJobQueue(openDatabase(${JSON.stringify(file)}), { pollMs: 20 });
      await q.work("crash", async () => { console.log("running"); await new Promise((r) => setTimeout(r, 20000)); });`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the child never started the job")), 10_000);
      child.stdout!.on("data", (d) => d.toString().includes("running") && (clearTimeout(timer), resolve()));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const db = openDatabase(file);
    const queue = new SqliteJobQueue(db, { pollMs: 20 });
    try {
      const recovered = await queue.get(job.id);
      assert.deepEqual([recovered?.state, recovered?.attempts], ["queued", 1]);
      await queue.work<{ n: number }, number>("crash", async (j) => j.payload.n * 6);
      const done = await queue.waitFor(job.id, 5000);
      assert.deepEqual([done.state, done.result, done.attempts], ["done", 42, 2]);
    } finally {
      await queue.close();
      db.close();
    }
  });
});

// ---- the Redis + BullMQ backend ----------------------------------------------------------------

// One server for the Redis suites of this file, started only where they run.
let redis: RedisServer | undefined;
const sharedRedis = {
  before: async () => void (redis ??= await startRedis()),
  after: async () => {},
};
after(async () => redis?.stop());

let prefixes = 0;
queueContract("Redis + BullMQ", async () => {
  assert.ok(redis, "redis-server did not start");
  // A fresh key prefix gives each test an empty queue on the shared server.
  const prefix = `t${++prefixes}`;
  return { open: (opts) => new BullJobQueue(redis!.url, { ...opts, prefix }), dispose: async () => {} };
}, sharedRedis, redisSkip);

describe("BullJobQueue and made-up job ids", { skip: redisSkip }, () => {
  before(sharedRedis.before);
  test("GET of ids with made-up kinds opens no queue and no Redis connection", async () => {
    assert.ok(redis, "redis-server did not start");
    const admin = new Redis(redis.url);
    const queue = new BullJobQueue(redis.url, { prefix: "madeup" });
    const connections = async () => String(await admin.call("CLIENT", "LIST")).trim().split("\n").length;
    try {
      const job = await queue.enqueue("known", {});
      assert.equal((await queue.get(job.id))?.kind, "known");
      const before = await connections();
      for (let i = 0; i < 20; i++) {
        assert.equal(await queue.get(`kind${i}.00000000-0000-4000-8000-000000000000`), null);
        assert.deepEqual(await queue.list({ kind: `listed${i}` }), []);
      }
      assert.equal(await connections(), before, "no connection per made-up kind");
      assert.deepEqual(await admin.smembers("madeup:captioner:kinds"), ["known"], "made-up kinds are not recorded");
    } finally {
      await queue.close();
      admin.disconnect();
    }
  });
});
