// The v1 API over app.inject(): captions (multipart and JSON) against transformers' reference
// captions and beam scores, models, health and readiness while loading, metrics, the OpenAPI
// document, caption jobs and an admin reload through the job queue.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Captioner } from "../../src/generation/captioner.js";
import type { ModelLoader } from "../../src/serving/registry.js";
import { expectedCaptions, goldenImage, goldenModel, multipart, testApp, type TestApp } from "../helpers/app.js";
import { readExpected } from "../helpers/golden.js";

const b64 = (file: string) => goldenImage(file).toString("base64");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const scores = (name: string): number[] => readExpected("base_like_32px").generation.find((g: any) => g.name === name).sequences_scores;
const assertScores = (actual: number[], expected: number[]) => actual.forEach((s, i) => assert.ok(Math.abs(s - expected[i]!) <= 1e-4, `score ${i}: ${s} vs ${expected[i]}`));

async function waitForJob(t: TestApp, id: string, headers: Record<string, string> = {}) {
  for (let i = 0; i < 200; i++) {
    const job = (await t.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers })).json();
    if (["done", "failed", "cancelled"].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`job ${id} did not finish`);
}

test("POST /v1/captions: multipart and JSON give transformers' captions and beam scores", async () => {
  const t = await testApp();
  try {
    // beam3_return3: one image, 3 beams, 3 captions, 10 new tokens — as multipart option fields.
    const form = multipart([{ name: "image", file: { data: goldenImage("rgb_square.png"), type: "image/png" } }, { name: "num_beams", value: "3" }, { name: "num_return_sequences", value: "3" }, { name: "max_new_tokens", value: "10" }]);
    const res = await t.app.inject({ method: "POST", url: "/v1/captions", ...form });
    assert.equal(res.statusCode, 200, res.body);
    const captions = res.json().results[0].captions;
    assert.deepEqual(captions.map((c: { text: string }) => c.text), expectedCaptions("beam3_return3"));
    assertScores(captions.map((c: { score: number }) => c.score), scores("beam3_return3"));

    // batch3_beam3 as JSON (one image as a data: URL).
    const json = await t.app.inject({
      method: "POST",
      url: "/v1/captions",
      payload: { model: "blip", images: [b64("rgb_square.png"), `data:image/jpeg;base64,${b64("rgb_nonsquare_jpeg.jpg")}`, b64("gray_L.png")], options: { num_beams: 3, max_new_tokens: 10 } },
    });
    assert.equal(json.statusCode, 200, json.body);
    const body = json.json();
    assert.equal(body.model, "blip");
    assert.deepEqual(body.results.map((r: { captions: { text: string }[] }) => r.captions[0]!.text), expectedCaptions("batch3_beam3"));
    assertScores(body.results.map((r: { captions: { score: number }[] }) => r.captions[0]!.score), scores("batch3_beam3"));

    // Generation options reach the model: repetition penalty, n-gram blocking, min/max new tokens, upper-case prompt.
    const one = async (options: object, file = "rgb_square.png") => (await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [b64(file)], options } })).json().results[0].captions[0].text;
    assert.equal(await one({ repetition_penalty: 1.5, max_new_tokens: 15 }), expectedCaptions("greedy_repetition_penalty")[0]);
    assert.equal(await one({ no_repeat_ngram_size: 2, max_new_tokens: 15 }), expectedCaptions("greedy_no_repeat_ngram")[0]);
    assert.equal(await one({ min_new_tokens: 5, max_new_tokens: 12 }, "rgb_nonsquare_jpeg.jpg"), expectedCaptions("greedy_min_max_new_tokens")[0]);
    assert.equal(await one({ prompt: "A PHOTOGRAPHY OF", max_new_tokens: 8 }), expectedCaptions("cond_greedy_upper")[0]);
    assert.equal(await one({ num_beams: 3, length_penalty: 0.6, early_stopping: true, max_new_tokens: 12 }), expectedCaptions("beam3_length_penalty_early_stop")[0]);
  } finally {
    await t.app.close();
  }
});

test("models, health, metrics, OpenAPI and docs", async () => {
  const t = await testApp();
  try {
    const models = (await t.app.inject({ method: "GET", url: "/v1/models" })).json();
    assert.equal(models.default, "blip");
    assert.equal(models.models.length, 1);
    assert.deepEqual({ ...models.models[0], loadSeconds: null, loadedAt: null }, { name: "blip", source: "(local folder)", revision: null, state: "ready", error: null, loadSeconds: null, loadedAt: null, reloading: false, version: null });
    assert.ok(models.models[0].loadSeconds > 0);
    assert.deepEqual((await t.app.inject({ method: "GET", url: "/healthz" })).json(), { status: "ok" });

    const metrics = await t.app.inject({ method: "GET", url: "/metrics" });
    assert.match(metrics.headers["content-type"] as string, /^text\/plain/);
    for (const name of ["captioner_http_request_duration_seconds_bucket", "captioner_queue_depth 0", "captioner_batch_size", "captioner_generated_tokens_total", "captioner_generated_tokens_per_second", 'captioner_model_load_seconds{model="blip"}']) {
      assert.ok(metrics.body.includes(name), `metrics lack ${name}`);
    }

    const doc = (await t.app.inject({ method: "GET", url: "/openapi.json" })).json();
    assert.equal(doc.openapi, "3.0.3");
    const routes = ["get /healthz", "get /readyz", "get /metrics", "get /openapi.json", "get /v1/models", "post /image2caption/blip", "post /v1/captions", "post /v1/chat/completions", "post /v1/jobs/captions", "get /v1/jobs/{id}", "post /v1/admin/models/{name}/reload", "get /v1/admin/jobs",
      "post /v1/datasets", "get /v1/datasets", "post /v1/datasets/{name}/items", "get /v1/datasets/{name}/items", "get /v1/datasets/{name}/items/{id}/image",
      "patch /v1/datasets/{name}/items/{id}", "delete /v1/datasets/{name}/items/{id}",
      "post /v1/datasets/{name}/items/{id}/review", "post /v1/admin/jobs/draft", "post /v1/admin/jobs/eval", "get /v1/admin/jobs/{id}/report"];
    routes.push("post /v1/datasets/{name}/import", "get /v1/datasets/{name}/export");
    routes.push("post /v1/jobs/{id}/cancel", "post /v1/admin/jobs/train", "get /v1/admin/models/{name}/versions", "post /v1/admin/models/{name}/promote");
    routes.push("get /v1/jobs/{id}/events");
    for (const route of routes) {
      const [method, url] = route.split(" ") as [string, string];
      const op = doc.paths[url]?.[method];
      assert.ok(op, `${route} is documented`);
      assert.ok(op.responses["200"] ?? op.responses["201"] ?? op.responses["202"] ?? op.responses["204"], `${route} documents its success response`);
    }
    assert.equal(Object.values(doc.paths).flatMap((p) => Object.keys(p as object)).length, routes.length);
    const upload = doc.paths["/image2caption/blip"].post.requestBody.content["multipart/form-data"].schema.properties.image;
    assert.deepEqual({ type: upload.type, format: upload.format }, { type: "string", format: "binary" });
    assert.equal(doc.paths["/v1/captions"].post.requestBody.content["application/json"].schema.properties.options.properties.num_beams.maximum, 5);
    assert.ok(doc.paths["/v1/captions"].post.responses["400"].content["application/json"].schema.properties.error);
    assert.ok(doc.components.securitySchemes.bearerAuth);
    const docs = await t.app.inject({ method: "GET", url: "/docs" });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  } finally {
    await t.app.close();
  }
});

test("readiness while loading: /readyz 503 and captioning 503 + Retry-After until every model is ready", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const loader: ModelLoader = async (folder, opts) => (await gate, Captioner.load(folder, opts));
  const t = await testApp({ load: false, loader, models: [`blip=${goldenModel}`, "broken=/no/such/folder"] });
  try {
    const loading = t.services.registry.loadAll();
    let ready = await t.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json().models.map((m: { state: string }) => m.state), ["loading", "loading"]);
    assert.equal((await t.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
    const early = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [b64("rgb_square.png")] } });
    assert.equal(early.statusCode, 503);
    assert.equal(early.headers["retry-after"], "5");
    assert.match(early.json().error.message, /still loading/);
    release();
    await loading;
    ready = await t.app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 503, "one model failed");
    assert.deepEqual(ready.json().models.map((m: { state: string }) => m.state), ["ready", "failed"]);
    assert.match(ready.json().models[1].error, /neither an existing folder nor a Hugging Face repo id/);
    const failed = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { model: "broken", images: [b64("rgb_square.png")] } });
    assert.equal(failed.statusCode, 503);
    assert.match(failed.json().error.message, /failed to load.*POST \/v1\/admin\/models\/broken\/reload/);
    assert.equal((await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [b64("rgb_square.png")] } })).statusCode, 200);
  } finally {
    release();
    await t.app.close();
  }
});

test("caption jobs and an admin reload run through the job queue", async () => {
  const t = await testApp({ limits: { maxImagesPerRequest: 2 } });
  try {
    const files = ["rgb_square.png", "rgb_nonsquare_jpeg.jpg", "gray_L.png"]; // more than one request's worth: the job chunks them
    const created = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { images: files.map(b64), options: { max_new_tokens: 8 } } });
    assert.equal(created.statusCode, 202, created.body);
    assert.equal(created.headers.location, `/v1/jobs/${created.json().id}`);
    assert.equal(created.json().kind, "caption");
    assert.equal(created.json().payload, undefined, "the images are not echoed back");
    const job = await waitForJob(t, created.json().id);
    assert.equal(job.state, "done", job.error);
    assert.equal(job.progress, 1);
    assert.deepEqual(job.result.captions.map((c: { text: string }[]) => c[0]!.text), expectedCaptions("batch3_greedy_max_new_tokens"));

    const admin = { authorization: `Bearer ${t.services.keys.create("admin").key}` };
    const before = t.services.registry.statuses()[0]!.loadedAt;
    const reload = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/reload", headers: admin });
    assert.equal(reload.statusCode, 202, reload.body);
    const reloaded = await waitForJob(t, reload.json().id, admin);
    assert.equal(reloaded.state, "done", reloaded.error);
    assert.notEqual(t.services.registry.statuses()[0]!.loadedAt, before);
    assert.equal((await t.app.inject({ method: "POST", url: "/v1/admin/models/nope/reload", headers: admin })).statusCode, 404);
    const caption = await t.app.inject({ method: "POST", url: "/v1/captions", headers: admin, payload: { images: [b64("rgb_square.png")] } });
    assert.equal(caption.json().results[0].captions[0].text, expectedCaptions("greedy_default")[0], "the reloaded model captions");

    const list = (await t.app.inject({ method: "GET", url: "/v1/admin/jobs?kind=model.reload", headers: admin })).json();
    assert.deepEqual(list.jobs.map((j: { id: string }) => j.id), [reload.json().id]);
    const all = (await t.app.inject({ method: "GET", url: "/v1/admin/jobs?limit=10", headers: admin })).json();
    assert.equal(all.jobs.length, 2);
    const badQuery = await t.app.inject({ method: "GET", url: "/v1/admin/jobs?state=sleeping", headers: admin });
    assert.equal(badQuery.statusCode, 400);
    assert.match(badQuery.json().error.message, /querystring.state must be equal to one of the allowed values/);
  } finally {
    await t.app.close();
  }
});
