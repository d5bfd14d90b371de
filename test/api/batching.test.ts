// Dynamic batching over HTTP: concurrent requests with the same model and options share model calls,
// and each still gets transformers' caption for its image alone; the bounded queue answers 503 +
// Retry-After instead of growing. The batcher's own rules (size cap, withdrawal, drain, failures)
// are tested on a fake model call in test/serving/batcher.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BatchReport } from "../../src/serving/batcher.js";
import { LocalCaptionService } from "../../src/serving/caption_service.js";
import { expectedCaptions, goldenImage, pocUpload, testApp, type TestApp } from "../helpers/app.js";

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

test("a full queue refuses before decoding: a damaged image then gets 503, not 400", async () => {
  const t = await testApp({ limits: { batchWindowMs: 1500, queueMaxDepth: 1 } });
  try {
    const first = caption(t, ["rgb_square"]);
    // Admitted (then waiting in the batch window) whatever the machine's load.
    while ((await t.services.captions.depth()) < 1) await new Promise((r) => setTimeout(r, 5));
    const damaged = goldenImage("rgb_square.png").subarray(0, 40);
    const refused = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [Buffer.from(damaged).toString("base64")] } });
    assert.equal(refused.statusCode, 503, refused.body);
    assert.equal(refused.json().error.code, "queue_full");
    assert.equal((await first).statusCode, 200);
    const decoded = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [Buffer.from(damaged).toString("base64")] } });
    assert.equal(decoded.statusCode, 400, "with room, the same image is decoded and refused as damaged");
  } finally {
    await t.app.close();
  }
});

test("a full queue refuses before the body is read: an unparseable body then gets 503 on every caption route", async () => {
  const t = await testApp({ limits: { batchWindowMs: 1500, queueMaxDepth: 1 } });
  try {
    const first = caption(t, ["rgb_square"]);
    // Admitted (then waiting in the batch window) whatever the machine's load.
    while ((await t.services.captions.depth()) < 1) await new Promise((r) => setTimeout(r, 5));
    const broken = { "content-type": "application/json" };
    for (const url of ["/v1/captions", "/image2caption/blip", "/v1/chat/completions"]) {
      const refused = await t.app.inject({ method: "POST", url, headers: broken, payload: "{not json" });
      assert.equal(refused.statusCode, 503, `${url}: ${refused.body}`);
      assert.ok(refused.headers["retry-after"], url);
    }
    assert.equal((await first).statusCode, 200);
    const parsed = await t.app.inject({ method: "POST", url: "/v1/captions", headers: broken, payload: "{not json" });
    assert.equal(parsed.statusCode, 400, "with room, the body is read and refused as bad JSON");
  } finally {
    await t.app.close();
  }
});

test("a caption job waits for room when interactive requests fill the queue, instead of failing", async () => {
  const t = await testApp({ limits: { batchWindowMs: 1000, queueMaxDepth: 1 } });
  try {
    let interactiveDone = false;
    const interactive = caption(t, ["rgb_square"]).finally(() => (interactiveDone = true)); // fills the queue for its window
    const created = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { images: [goldenImage("gray_L.png").toString("base64")] } });
    assert.equal(created.statusCode, 202, created.body);
    const jobUrl = `/v1/jobs/${created.json().id}`;
    let job = created.json();
    let ranWhileFull = false;
    for (let i = 0; i < 400 && !["done", "failed", "cancelled"].includes(job.state); i++) {
      await new Promise((r) => setTimeout(r, 25));
      job = (await t.app.inject({ method: "GET", url: jobUrl })).json();
      if (job.state === "running" && !interactiveDone) ranWhileFull = true;
    }
    assert.equal(job.state, "done", job.error);
    assert.ok(ranWhileFull, "the job started while the interactive request filled the queue");
    assert.equal((await interactive).statusCode, 200);
    assert.deepEqual(job.result.captions, [[{ text: alone("gray_L") }]]);
    assert.equal(job.attempts, 1, "the chunk was retried, not the job");
  } finally {
    await t.app.close();
  }
});
