// Dynamic batching over HTTP: concurrent requests with the same model and options share model calls,
// and each still gets transformers' caption for its image alone; the bounded queue answers 503 +
// Retry-After instead of growing.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BatchReport } from "../src/serving/batcher.js";
import { LocalCaptionService } from "../src/serving/caption_service.js";
import { expectedCaptions, goldenImage, pocUpload, testApp, type TestApp } from "./helpers/app.js";

const IMAGES = ["rgb_square", "rgb_nonsquare_jpeg", "gray_L", "rgba_transparent", "palette_P", "tiny_7x5", "large_1000x700_jpeg", "exif_orientation6_jpeg"];
const file = (name: string) => `${name}.${name.endsWith("jpeg") ? "jpg" : "png"}`;
const alone = (name: string) => expectedCaptions(name === "rgb_square" ? "greedy_default" : `greedy_default__${name}`)[0];

function recordBatches(t: TestApp): BatchReport[] {
  const reports: BatchReport[] = [];
  assert.ok(t.services.captions instanceof LocalCaptionService);
  t.services.captions.batcher.onBatch((r) => reports.push(r));
  return reports;
}

const caption = (t: TestApp, images: string[], options: Record<string, unknown> = {}) =>
  t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: images.map((n) => goldenImage(file(n)).toString("base64")), options } });

test("8 concurrent PoC requests: fewer model calls, and every caption equals the unbatched reference", async () => {
  const t = await testApp({ limits: { batchWindowMs: 250, batchSize: 8 } });
  try {
    const reports = recordBatches(t);
    const responses = await Promise.all(IMAGES.map((name) => t.app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(goldenImage(file(name))) })));
    responses.forEach((res, i) => {
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().caption, alone(IMAGES[i]!), IMAGES[i]);
    });
    assert.ok(reports.length < IMAGES.length, `expected fewer than ${IMAGES.length} model calls, got ${reports.length}`);
    assert.equal(reports.reduce((n, r) => n + r.images, 0), IMAGES.length);
    const calls = (await t.app.metrics.modelCalls.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal(calls, reports.length, "the metric counts the same model calls");
    const metrics = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
    assert.match(metrics, new RegExp(`captioner_batch_size_count\\{model="blip"\\} ${reports.length}\\b`));
    assert.match(metrics, /captioner_generated_tokens_total\{model="blip"\} [1-9]/);
  } finally {
    await t.app.close();
  }
});

test("different prompts share a batch; different options do not; results match transformers", async () => {
  const t = await testApp({ limits: { batchWindowMs: 250 } });
  try {
    const reports = recordBatches(t);
    const [plain, prompted, several, beam] = await Promise.all([
      caption(t, ["rgb_square"]),
      caption(t, ["rgb_square"], { prompt: "a picture of" }),
      caption(t, ["rgb_square", "rgb_nonsquare_jpeg", "gray_L"], { prompt: "a picture of" }),
      caption(t, ["rgb_square"], { num_beams: 3 }),
    ]);
    for (const res of [plain, prompted, several, beam]) assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(plain.json().results, [{ captions: [{ text: expectedCaptions("greedy_default")[0] }] }]);
    assert.deepEqual(prompted.json().results, [{ captions: [{ text: expectedCaptions("cond_greedy")[0] }] }]);
    assert.deepEqual(several.json().results.map((r: { captions: { text: string }[] }) => r.captions[0]!.text), expectedCaptions("batch3_cond_greedy"));
    const beamCaption = beam.json().results[0].captions[0];
    assert.equal(beamCaption.text, expectedCaptions("beam3_default")[0]);
    assert.ok(Math.abs(beamCaption.score - -3.808401107788086) <= 1e-4, `beam score ${beamCaption.score}`);
    // Greedy requests (with and without prompts) went into one call; the beam request into its own.
    assert.deepEqual(reports.map((r) => [r.images, r.requests]).sort(), [[1, 1], [5, 3]]);
  } finally {
    await t.app.close();
  }
});

test("batches never exceed the batch size", async () => {
  const t = await testApp({ limits: { batchWindowMs: 250, batchSize: 2 } });
  try {
    const reports = recordBatches(t);
    const responses = await Promise.all(IMAGES.slice(0, 5).map((name) => caption(t, [name])));
    responses.forEach((res, i) => assert.equal(res.json().results[0].captions[0].text, alone(IMAGES[i]!)));
    assert.ok(reports.every((r) => r.images <= 2), JSON.stringify(reports));
    assert.equal(reports.length, 3);
  } finally {
    await t.app.close();
  }
});

test("a full queue answers 503 with Retry-After; the queued requests still succeed", async () => {
  const t = await testApp({ limits: { batchWindowMs: 400, queueMaxDepth: 2 } });
  try {
    const first = [caption(t, ["rgb_square"]), caption(t, ["gray_L"])];
    await new Promise((r) => setTimeout(r, 150)); // both are waiting in the batch window now
    const refused = await caption(t, ["palette_P"]);
    assert.equal(refused.statusCode, 503, refused.body);
    assert.match(String(refused.headers["retry-after"]), /^[1-9]\d*$/);
    assert.equal(refused.json().error.code, "queue_full");
    assert.match(refused.json().error.message, /queue is full \(2 of 2/);
    const done = await Promise.all(first);
    assert.deepEqual(done.map((r) => r.statusCode), [200, 200]);
    assert.equal((await caption(t, ["palette_P"])).statusCode, 200, "accepted again once the queue drained");
  } finally {
    await t.app.close();
  }
});
