// The decoding budget (limits.maxDecodedBytes): an image is admitted by its decoded size (pixels ×
// channels × bytes per sample, from its header), against one budget shared by every request. Too big
// for the whole budget: 413 with the sizes; the budget taken by requests in flight: 503 + Retry-After.
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { decodedSize, decodeImage } from "../../src/preprocess/image.js";
import { defaultImageProcessorConfig, toPixelValues } from "../../src/preprocess/image_processor.js";
import { OFF_THREAD_MIN_PIXELS, toPixelValuesOffThread } from "../../src/preprocess/off_thread.js";
import { LocalCaptionService } from "../../src/serving/caption_service.js";
import { DecodeBudget, DecodeBudgetBusyError, DecodeTooLargeError } from "../../src/serving/decode_budget.js";
import { testApp } from "../helpers/app.js";

/** A 16-bit RGBA PNG: small file, 8 bytes a pixel once decoded. */
function png16(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 200, g: 40, b: 90, alpha: 0.5 } } }).toColourspace("rgb16").png({ compressionLevel: 9 }).toBuffer();
}

test("DecodeBudget: reserve up to the total, refuse more now (busy) or ever (too large), release once", () => {
  const budget = new DecodeBudget(100);
  const a = budget.reserve(60);
  assert.throws(() => budget.reserve(50), (e: unknown) => e instanceof DecodeBudgetBusyError && e.free === 40 && e.retryAfterSeconds >= 1);
  assert.throws(() => budget.reserve(101), DecodeTooLargeError);
  const b = budget.reserve(40);
  assert.equal(budget.inUse, 100);
  a.release();
  a.release();
  assert.equal(budget.inUse, 40, "a second release gives nothing back twice");
  b.release();
  assert.equal(budget.inUse, 0);
});

test("decodedSize reads pixels × channels × bytes per sample from the header", async () => {
  assert.deepEqual(await decodedSize(await png16(700, 500)), { width: 700, height: 500, channels: 4, bytesPerSample: 2, bytes: 700 * 500 * 8 });
  assert.equal(await decodedSize(Buffer.from("not an image")), null);
});

test("the caption routes: 413 for an image the budget can never hold, 503 + Retry-After while it is taken", async () => {
  const big = await png16(1500, 1500); // 18,000,000 bytes decoded, a file of a few KB
  const t = await testApp({ limits: { maxDecodedBytes: 20_000_000 } });
  try {
    const caption = (images: Buffer[]) => t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: images.map((b) => b.toString("base64")), options: { max_new_tokens: 2 } } });
    const small = await png16(64, 64);
    assert.equal((await caption([small])).statusCode, 200);

    const huge = await png16(1600, 1600); // 20,480,000 bytes > the budget
    assert.ok(huge.length < 200_000, `the file is small (${huge.length} bytes)`);
    const refused = await caption([huge]);
    assert.equal(refused.statusCode, 413, refused.body);
    assert.equal(refused.json().error.code, "decoded_too_large");
    assert.match(refused.json().error.message, /1600×1600 pixels × 4 channels × 2 bytes = 20480000 bytes, more than the server's decoding budget of 20000000 bytes \(maxDecodedBytes\); send fewer pixels or an 8-bit image/);
    const job = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { images: [huge.toString("base64")] } });
    assert.equal(job.statusCode, 413, "a job is refused on submission for the same reason");

    // Two at once: the first holds 18 MB of the 20 MB while it decodes, the second gets 503.
    const answers = await Promise.all([caption([big]), caption([big])]);
    const statuses = answers.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [200, 503], answers.map((r) => r.body).join("\n"));
    const busy = answers.find((r) => r.statusCode === 503)!;
    assert.equal(busy.json().error.code, "decoding_busy");
    assert.equal(busy.headers["retry-after"], "1");
    assert.match(busy.json().error.message, /decoding other images.*retry in 1 s/);
    // Two images of one request that together exceed the budget are decoded one after the other.
    assert.equal((await caption([big, big])).statusCode, 200);
    assert.ok(t.services.captions instanceof LocalCaptionService);
    assert.equal(t.services.captions.budget.inUse, 0, "every reservation released");
  } finally {
    await t.app.close();
  }
});

test("a large image is resized off the main thread: the same pixels, and /healthz keeps answering meanwhile", async () => {
  const cfg = defaultImageProcessorConfig();
  const file = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: { r: 10, g: 120, b: 240 } } }).png().toBuffer();
  const img = await decodeImage(file);
  assert.ok(img.width * img.height >= OFF_THREAD_MIN_PIXELS);
  const inThread = toPixelValues(img, cfg);
  const offThread = await toPixelValuesOffThread(await decodeImage(file), cfg);
  assert.deepEqual(offThread, inThread, "bit-identical pixels");

  const t = await testApp({ load: true });
  try {
    // Compile the routes' schemas first (≈ 0.5–1 s under load): the first inject would wait for it, not for the decode.
    await t.app.ready();
    let done = false;
    const started = performance.now();
    const captioned = t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [file.toString("base64")], options: { max_new_tokens: 2 } } }).finally(() => (done = true));
    let worst = 0;
    while (!done) {
      const asked = performance.now();
      assert.equal((await t.app.inject({ url: "/healthz" })).statusCode, 200);
      worst = Math.max(worst, performance.now() - asked);
      await new Promise((r) => setTimeout(r, 10));
    }
    const took = performance.now() - started;
    assert.equal((await captioned).statusCode, 200);
    assert.ok(worst < Math.max(250, took / 3), `/healthz answered within ${worst.toFixed(0)} ms while the caption took ${took.toFixed(0)} ms`);
  } finally {
    await t.app.close();
  }
});
