// Job runs take the decoding budget too (limits.maxDecodedBytes): the embedded server's caption and
// draft jobs and a scale-out worker's decode each image only once its decoded size is free, waiting
// their turn (jobs are not interactive), and fail with the sizes when an image can never fit. One image
// that fails stops its siblings' waits, and no reservation is given back while a decode still uses it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { Captioner } from "../../src/generation/captioner.js";
import { allOrFirstFailure, InputError, LocalCaptionService, withReservation } from "../../src/serving/caption_service.js";
import { openDatabase } from "../../src/serving/db.js";
import { DecodeBudget, DecodeTooLargeError } from "../../src/serving/decode_budget.js";
import { CAPTION_JOB, DRAFT_JOB, type DraftJobResult, enqueueJob, serveCaptionJobs } from "../../src/serving/jobs/index.js";
import { SqliteJobQueue } from "../../src/serving/queue/index.js";
import { goldenModel, type TestApp, testApp } from "../helpers/app.js";

/** An 8-bit RGB PNG of `side`² pixels: side² × 3 bytes once decoded. */
function png(side: number, red: number): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: red, g: 90, b: 30 } } }).png().toBuffer();
}

/** Polls `ready` (every 10 ms, up to 20 s): waits for a state, never for a fixed time. */
async function until(ready: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting until ${what}`);
}

/** Bytes that are no image: refused by the decoder at once (its header read needs no sharp call). */
const NOT_AN_IMAGE = Buffer.from("this is not an image, only text");

/** A budget that records the most bytes it ever held at once. */
class WatchedBudget extends DecodeBudget {
  peak = 0;
  grants = 0;
  override acquire(bytes: number, signal?: AbortSignal) {
    return super.acquire(bytes, signal).then((reservation) => {
      this.grants++;
      this.peak = Math.max(this.peak, this.inUse);
      return reservation;
    });
  }
}

test("DecodeBudget.acquire waits for room first come first served, refuses what never fits, stops on abort", async () => {
  const budget = new DecodeBudget(100);
  const held = budget.reserve(80);
  const order: string[] = [];
  const a = budget.acquire(50).then((r) => (order.push("a"), r));
  const b = budget.acquire(30).then((r) => (order.push("b"), r));
  const controller = new AbortController();
  const c = budget.acquire(10, controller.signal);
  await assert.rejects(budget.acquire(101), DecodeTooLargeError);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], "nothing fits beside the 80 held");
  assert.equal(budget.waiters, 3);
  controller.abort(new Error("cancelled"));
  await assert.rejects(c, /cancelled/);
  held.release();
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual(order, ["a", "b"]);
  assert.equal(budget.inUse, 80);
  ra.release();
  rb.release();
  assert.equal(budget.inUse, 0);
  assert.equal(budget.waiters, 0);
});

test("a worker's caption job decodes within its budget: images wait their turn instead of all decoding at once", async () => {
  const db = openDatabase(":memory:");
  const queue = new SqliteJobQueue(db, { pollMs: 20 });
  const captioner = await Captioner.load(goldenModel, { threads: 1 });
  const side = 300; // 270,000 bytes decoded; the budget holds one such image at a time
  const budget = new WatchedBudget(side * side * 3 + 1000);
  try {
    await serveCaptionJobs(queue, async () => captioner, { chunk: 4, budget });
    const images = await Promise.all([10, 70, 130, 190].map((red) => png(side, red)));
    const job = await enqueueJob(queue, CAPTION_JOB, { model: "blip", images: images.map((b) => b.toString("base64")), options: { maxNewTokens: 3 } });
    const done = await queue.waitFor(job.id, 60_000);
    assert.equal(done.state, "done", done.error ?? "");
    assert.equal((done.result as { captions: unknown[] }).captions.length, 4);
    assert.equal(budget.grants, 4, "every image took its share");
    assert.equal(budget.peak, side * side * 3, "one decode at a time, never the four of the chunk together");
    assert.equal(budget.inUse, 0);

    // An image the whole budget cannot hold fails the job with the sizes (a refusal, not a worker fault).
    const huge = await enqueueJob(queue, CAPTION_JOB, { model: "blip", images: [(await png(400, 50)).toString("base64")], options: { maxNewTokens: 3 } });
    const failed = await queue.waitFor(huge.id, 60_000);
    assert.equal(failed.state, "failed");
    assert.match(failed.error ?? "", /refused \[decoded_too_large\]: the image is too large once decoded: 400×400 pixels × 3 channels × 1 byte = 480000 bytes, more than the server's decoding budget of 271000 bytes/);
  } finally {
    await queue.close();
    await captioner.release();
    db.close();
  }
});

test("the embedded server's caption job waits while requests hold the budget, then finishes", async () => {
  const side = 300;
  const t = await testApp({ limits: { maxDecodedBytes: side * side * 3 + 1000 } });
  try {
    const service = t.services.captions;
    assert.ok(service instanceof LocalCaptionService);
    const image = (await png(side, 120)).toString("base64");
    const held = service.budget.reserve(side * side * 3); // an interactive request decoding meanwhile
    const { id } = await enqueueJob(t.services.queue, CAPTION_JOB, { model: "blip", images: [image, image], options: { maxNewTokens: 3 } });
    // The job's run queues in the budget rather than failing or polling with "decoding busy".
    for (let i = 0; i < 200 && service.budget.waiters === 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(service.budget.waiters, 1, "the job waits in the budget's queue");
    assert.equal((await t.services.queue.get(id))?.state, "running");
    held.release();
    const done = await t.services.queue.waitFor(id, 60_000);
    assert.equal(done.state, "done", done.error ?? "");
    assert.equal((done.result as { captions: unknown[] }).captions.length, 2);
    assert.equal(service.budget.inUse, 0);
  } finally {
    await t.app.close();
  }
});

test("allOrFirstFailure: the first failure aborts the siblings' waits in the budget, and it settles only after every run has", async () => {
  const budget = new DecodeBudget(100);
  const held = budget.reserve(100); // nothing fits: the two sizeable runs wait
  let decoded = 0;
  let settled = 0;
  const runs = allOrFirstFailure([60, 60, -1], async (bytes, i, signal) => {
    try {
      if (bytes < 0) {
        await until(() => budget.waiters === 2, "both siblings wait in the budget");
        throw new Error(`image ${i + 1} is damaged`);
      }
      return await withReservation(await budget.acquire(bytes, signal), async () => void decoded++);
    } finally {
      settled++;
    }
  });
  await assert.rejects(runs, /^Error: image 3 is damaged$/, "the first failure, not the siblings' aborts");
  assert.equal(settled, 3, "every run had settled");
  assert.equal(budget.waiters, 0, "the waits were aborted");
  assert.equal(decoded, 0);
  held.release();
  assert.equal(budget.inUse, 0);
});

test("a worker's chunk with one bad image fails with its place, its sibling decodes do not run, and the budget is all given back", async () => {
  const db = openDatabase(":memory:");
  const queue = new SqliteJobQueue(db, { pollMs: 20 });
  const captioner = await Captioner.load(goldenModel, { threads: 1 });
  const side = 300;
  const budget = new WatchedBudget(side * side * 3 + 1000); // one big image at a time
  try {
    await serveCaptionJobs(queue, async () => captioner, { chunk: 4, budget });
    const big = await Promise.all([10, 70, 130].map((red) => png(side, red)));
    const images = [...big, NOT_AN_IMAGE].map((b) => b.toString("base64"));
    const job = await enqueueJob(queue, CAPTION_JOB, { model: "blip", images, options: { maxNewTokens: 3 } });
    const failed = await queue.waitFor(job.id, 60_000);
    assert.equal(failed.state, "failed");
    assert.match(failed.error ?? "", /^refused \[unsupported_image_format\]: image 4 of 4: The data is not a recognised image/);
    // The job failed only once nothing of its chunk was left waiting or decoding.
    assert.equal(budget.inUse, 0);
    assert.equal(budget.waiters, 0);

    // A next job on the same budget: had the big images of the failed chunk gone on waiting, they would
    // have taken the budget (first come first served) before this one's image.
    const next = await enqueueJob(queue, CAPTION_JOB, { model: "blip", images: [images[0]!], options: { maxNewTokens: 3 } });
    const done = await queue.waitFor(next.id, 60_000);
    assert.equal(done.state, "done", done.error ?? "");
    assert.equal(budget.grants, 2, "the bad image's share (0 bytes: no header) and the next job's image; none of the three big siblings");
    assert.equal(budget.inUse, 0);
  } finally {
    await queue.close();
    await captioner.release();
    db.close();
  }
});

test("a request whose image fails keeps its reservation until its other decodes have settled", async () => {
  const side = 1000; // decoding takes a while, a truncated file fails at once
  const t = await testApp({ limits: { maxDecodedBytes: 3 * side * side * 3 } });
  try {
    const service = t.services.captions;
    assert.ok(service instanceof LocalCaptionService);
    const big = await png(side, 40);
    const truncated = (await png(64, 200)).subarray(0, 60);
    const seen: number[] = []; // the budget in use as each big image's decode finishes
    const check = service.check("blip", [big, big, truncated], {}, { onDecoded: () => seen.push(service.budget.inUse) });
    await assert.rejects(check, (error) => error instanceof InputError && error.status === 400 && /^image 3 of 3: The PNG file is truncated/.test(error.message));
    assert.deepEqual(seen, [2 * side * side * 3, 2 * side * side * 3], "both big decodes finished under the request's reservation, before it failed");
    assert.equal(service.budget.inUse, 0);
  } finally {
    await t.app.close();
  }
});

describe("draft jobs wait in the decoding budget", () => {
  const side = 300;
  const decoded = side * side * 3;
  let t: TestApp;
  let service: LocalCaptionService;
  let dataDir: string;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-draft-budget-"));
    t = await testApp({ dataDir, limits: { maxDecodedBytes: decoded + 1000 } });
    assert.ok(t.services.captions instanceof LocalCaptionService);
    service = t.services.captions;
  });
  after(async () => {
    await t.app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function dataset(name: string, images: readonly Buffer[]): Promise<string[]> {
    t.services.datasets.createDataset(name);
    const ids: string[] = [];
    for (const image of images) ids.push((await t.services.datasets.addItem(name, { image, split: "train" })).id);
    return ids;
  }
  const draft = (name: string) => enqueueJob(t.services.queue, DRAFT_JOB, { dataset: name, model: "blip", overwrite: false, options: { maxNewTokens: 3 } });

  test("a draft job waits while requests hold the budget, then drafts; an image that can never fit is listed as failed", async () => {
    const [a, b, huge] = await dataset("waits", [await png(side, 20), await png(side, 220), await png(400, 90)]);
    const held = service.budget.reserve(decoded); // an interactive request decoding meanwhile
    const { id } = await draft("waits");
    await until(() => service.budget.waiters === 1, "the draft job waits in the budget's queue (no 'decoding busy' retries)");
    assert.equal((await t.services.queue.get(id))?.state, "running");
    held.release();
    const done = await t.services.queue.waitFor(id, 60_000);
    assert.equal(done.state, "done", done.error ?? "");
    const result = done.result as DraftJobResult;
    assert.equal(result.drafted, 2);
    assert.deepEqual(result.failed.map((f) => f.id), [huge]);
    assert.match(result.failed[0]!.error, /too large once decoded: 400×400 pixels × 3 channels × 1 byte = 480000 bytes, more than the server's decoding budget of 271000 bytes/);
    for (const item of [a, b]) assert.ok(t.services.datasets.getItem("waits", item!).captions.length > 0);
    assert.equal(service.budget.inUse, 0);
  });

  test("a draft job waiting for the budget can be cancelled", async () => {
    const [item] = await dataset("cancelled", [await png(side, 160)]);
    const held = service.budget.reserve(decoded);
    try {
      const { id } = await draft("cancelled");
      await until(() => service.budget.waiters === 1, "the draft job waits in the budget's queue");
      assert.equal(await t.services.queue.cancel(id), true);
      await until(() => service.budget.waiters === 0, "the cancelled job stops waiting");
      assert.equal((await t.services.queue.get(id))?.state, "cancelled");
      await until(async () => (await service.depth()) === 0, "the job's place in the batcher's queue is given back");
      assert.deepEqual(t.services.datasets.getItem("cancelled", item!).captions, []);
      assert.equal(service.budget.inUse, decoded, "only the request's share is taken");
    } finally {
      held.release();
    }
    assert.equal(service.budget.inUse, 0);
  });
});
