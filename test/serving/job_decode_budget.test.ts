// Job runs take the decoding budget too (limits.maxDecodedBytes): the embedded server's caption jobs
// and a scale-out worker's decode each image only once its decoded size is free, waiting their turn
// (jobs are not interactive), and fail with the sizes when an image can never fit.
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { Captioner } from "../../src/generation/captioner.js";
import { LocalCaptionService } from "../../src/serving/caption_service.js";
import { openDatabase } from "../../src/serving/db.js";
import { DecodeBudget, DecodeTooLargeError } from "../../src/serving/decode_budget.js";
import { CAPTION_JOB, enqueueJob, serveCaptionJobs } from "../../src/serving/jobs/index.js";
import { SqliteJobQueue } from "../../src/serving/queue/index.js";
import { goldenModel, testApp } from "../helpers/app.js";

/** An 8-bit RGB PNG of `side`² pixels: side² × 3 bytes once decoded. */
function png(side: number, red: number): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: red, g: 90, b: 30 } } }).png().toBuffer();
}

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
