// Scale-out over a real redis-server: two `captioner worker` processes caption jobs that a
// RemoteCaptioner (the API node's side) enqueues; every result equals the local Captioner's and
// transformers' golden captions, both workers take jobs, and SIGTERM stops a worker cleanly.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type CaptionOptions, Captioner } from "../../src/generation/captioner.js";
import { BullJobQueue } from "../../src/serving/queue/bullmq.js";
import type { JobQueue } from "../../src/serving/queue/index.js";
import { serveCaptionJobs } from "../../src/serving/jobs/index.js";
import { RemoteCaptionError, RemoteCaptioner, RemoteInputError } from "../../src/serving/remote_caption.js";
import { assertClose, blipCaseDir, readExpected, repoRoot } from "../helpers/golden.js";
import { type RedisServer, redisSkip, startRedis } from "../helpers/redis.js";

const caseName = "base_like_32px";
const modelDir = blipCaseDir(caseName);
const expected = readExpected(caseName);
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const home = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-scaleout-"));

interface GoldenCall {
  name: string;
  images: string[];
  prompt: string | string[] | null;
  generate_kwargs: Record<string, number | boolean>;
  decoded: { fast_skip_special: string[] };
  sequences_scores?: number[];
}
const call = (name: string): GoldenCall => expected.generation.find((g: GoldenCall) => g.name === name);
const imageBytes = (name: string) => new Uint8Array(fs.readFileSync(path.join(modelDir, expected.images.find((i: { name: string }) => i.name === name).file)));
/** transformers' generate kwargs as CaptionOptions: num_beams → numBeams. */
const optionsOf = (c: GoldenCall): CaptionOptions => ({
  ...Object.fromEntries(Object.entries(c.generate_kwargs).map(([k, v]) => [k.replace(/_(\w)/g, (_, ch: string) => ch.toUpperCase()), v])),
  ...(c.prompt ? { prompt: c.prompt } : {}),
});

interface Worker {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

/** Starts `captioner worker` and resolves once it reports ready (bounded). */
async function startWorker(redisUrl: string): Promise<Worker> {
  const child = spawn(process.execPath, [cli, "worker", "--redis", redisUrl, "--model", `blip=${modelDir}`], {
    env: { ...process.env, CAPTIONER_HOME: home, CAPTIONER_THREADS: "1", HF_HUB_OFFLINE: "1", CAPTIONER_CONFIG: "" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  while (!log.includes("ready:")) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not become ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, log: () => log, exited };
}

describe("scale-out: captioner worker × 2 on Redis + BullMQ", { skip: redisSkip }, () => {
  let redis: RedisServer;
  let workers: Worker[] = [];
  let queue: BullJobQueue;
  let local: Captioner;

  before(async () => {
    redis = await startRedis();
    [workers, local] = await Promise.all([Promise.all([startWorker(redis.url), startWorker(redis.url)]), Captioner.load(modelDir, { threads: 1 })]);
    queue = new BullJobQueue(redis.url);
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.exited));
    await queue?.close();
    await local?.release();
    await redis?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  test("concurrent caption jobs: results equal the local Captioner and transformers; both workers work", async () => {
    const remote = new RemoteCaptioner(queue, { timeoutMs: 15_000 });
    const singles = expected.images.map((i: { name: string }) => call(`greedy_default__${i.name}`) ?? call("greedy_default"));
    const calls: GoldenCall[] = [...singles, ...singles, call("beam3_return3"), call("cond_beam3"), call("batch3_greedy_default")];
    const results = await Promise.all(calls.map((c) => remote.captionJob("blip", c.images.map(imageBytes), optionsOf(c))));
    for (const [i, c] of calls.entries()) {
      const images = c.images.map(imageBytes);
      const mine = await local.caption(images, optionsOf(c));
      const remoteCaptions = results[i]!.captions;
      // The API's caption shape (no token ids); beam scores are float sums, equal to the last digits
      // only within one process, so compared at a tolerance.
      assert.ok(remoteCaptions.flat().every((caption) => Object.keys(caption).every((key) => key === "text" || key === "score")), `${c.name}: text and score only`);
      const textsOf = (all: { text: string }[][]) => all.map((perImage) => perImage.map(({ text }) => text));
      assert.deepEqual(textsOf(remoteCaptions), textsOf(mine), `${c.name}: same captions as captioning locally`);
      const texts = remoteCaptions.flatMap((perImage) => perImage.map((caption) => caption.text));
      assert.deepEqual(texts, c.decoded.fast_skip_special, `${c.name}: transformers' captions`);
      if (c.sequences_scores) {
        const scores = remoteCaptions.flat().map((caption) => caption.score!);
        assertClose(scores, c.sequences_scores, 1e-4, `${c.name}: transformers' sequences_scores`);
        assertClose(scores, mine.flat().map((caption) => caption.score!), 1e-5, `${c.name}: local scores`);
      }
    }
    const byWorker = new Set(results.map((r) => r.worker));
    const pids = workers.map((w) => `${os.hostname()}:${w.child.pid}`);
    assert.deepEqual([...byWorker].sort(), pids.sort(), "both workers took jobs");
  });

  test("a job for a model the workers do not serve fails with the worker's reason", async () => {
    const remote = new RemoteCaptioner(queue, { timeoutMs: 10_000 });
    await assert.rejects(remote.caption("nope", [imageBytes("rgb_square")], {}), (e: unknown) => {
      assert.ok(e instanceof RemoteCaptionError);
      assert.match(e.message, /failed on the worker: unknown model "nope"/);
      return true;
    });
  });

  test("options only the model can check are refused as the client's error, with the option's snake_case name", async () => {
    const remote = new RemoteCaptioner(queue, { timeoutMs: 10_000 });
    await assert.rejects(remote.caption("blip", [imageBytes("rgb_square")], { prompt: "a picture of", maxLength: 3 }), (e: unknown) => {
      assert.ok(e instanceof RemoteInputError, String(e));
      assert.equal(e.code, "option_out_of_range");
      assert.match(e.message, /^max_length \(3\) must be greater than the prompt's \d+ tokens/);
      return true;
    });
  });

  test("a worker captions a job in chunks with progress after each, and applies maxPixels", async () => {
    // Its own key prefix: the two CLI workers do not see these jobs.
    const queue = new BullJobQueue(redis.url, { prefix: "chunked" });
    const progress: number[] = [];
    // The real queue, with each progress report recorded on its way.
    const recording: JobQueue = Object.assign(Object.create(queue) as BullJobQueue, {
      work: (kind: string, handler: Parameters<JobQueue["work"]>[1], opts?: { concurrency?: number }) =>
        queue.work(kind, (job, ctx) => handler(job, { signal: ctx.signal, progress: (f: number) => (progress.push(f), ctx.progress(f)) }), opts),
    });
    try {
      await serveCaptionJobs(recording, async () => local, { chunk: 2, maxPixels: 100_000 });
      const remote = new RemoteCaptioner(queue, { timeoutMs: 15_000 });
      const names = ["rgb_square", "rgb_nonsquare_jpeg", "gray_L", "palette_P", "tiny_7x5"];
      const alone = (name: string) => call(name === "rgb_square" ? "greedy_default" : `greedy_default__${name}`).decoded.fast_skip_special;
      const result = await remote.captionJob("blip", names.map(imageBytes), {});
      assert.deepEqual(result.captions, names.map((name) => alone(name).map((text) => ({ text }))), "transformers' caption of each image alone");
      assert.deepEqual(progress, [0.4, 0.8, 1], "progress after each chunk of 2");

      const beam = call("batch3_beam3");
      const scored = await remote.caption("blip", beam.images.map(imageBytes), optionsOf(beam));
      assert.deepEqual(scored.map((perImage) => perImage.map(({ text }) => text)), beam.decoded.fast_skip_special.map((text) => [text]));
      assertClose(scored.map((perImage) => perImage[0]!.score!), beam.sequences_scores!, 1e-4, "batch3_beam3 scores across chunks");

      await assert.rejects(remote.caption("blip", [imageBytes("large_1000x700_jpeg")], {}), /1000x700 = 700000 pixels, more than the limit of 100000/);
    } finally {
      await queue.close();
    }
  });

  test("SIGTERM: a worker finishes its jobs and exits 0; with no worker left, callers time out clearly", async () => {
    const remote = new RemoteCaptioner(queue, { timeoutMs: 15_000 });
    const c = call("greedy_default__large_1000x700_jpeg");
    const pending = Array.from({ length: 4 }, () => remote.caption("blip", [imageBytes("large_1000x700_jpeg")], {}));
    // Stop the first worker while the jobs are queued or running: nothing may be lost.
    workers[0]!.child.kill("SIGTERM");
    for (const captions of await Promise.all(pending)) assert.equal(captions[0]![0]!.text, c.decoded.fast_skip_special[0]);
    assert.equal(await workers[0]!.exited, 0, workers[0]!.log());
    assert.match(workers[0]!.log(), /SIGTERM: finishing running jobs/);
    assert.match(workers[0]!.log(), /stopped/);

    workers[1]!.child.kill("SIGTERM");
    assert.equal(await workers[1]!.exited, 0, workers[1]!.log());
    const impatient = new RemoteCaptioner(queue, { timeoutMs: 300 });
    await assert.rejects(impatient.caption("blip", [imageBytes("rgb_square")], {}), /no result within 300 ms; are workers running/);
    assert.equal(await queue.depth(), 0, "the abandoned job was cancelled, not left queued");
  });
});
