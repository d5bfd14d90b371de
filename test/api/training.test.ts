// Train jobs, model versions and the promotion gate over HTTP (issue 11), with the golden tiny BLIP
// and a few shapes images: a short train job reports its epochs and ends with a version listed with
// its scores and latency; promotion is refused by the gate (409 with reasons) and then allowed with
// an override, after which the model name captions with the version; the gate's rule on recorded
// numbers; cancelling a running train job; who may call what.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildApp } from "../../src/api/app.js";
import { openServices, startJobHandlers } from "../../src/api/services.js";
import { Captioner } from "../../src/generation/captioner.js";
import { expectedCaptions, goldenImage, goldenModel, testApp, type TestApp, testConfig } from "../helpers/app.js";
import { shapesRoot } from "../helpers/shapes.js";

interface Shape {
  file_name: string;
  captions: string[];
}

const shapes = (split: string, n: number): Shape[] =>
  fs.readFileSync(path.join(shapesRoot, split, "metadata.jsonl"), "utf8").trim().split("\n").slice(0, n).map((l) => JSON.parse(l) as Shape);

/**
 * A dataset of shapes images: `train` reviewed train items (and one unreviewed one, which a
 * reviewed-only snapshot leaves out); validation items whose references share no word with anything
 * BLIP writes, so every model scores CIDEr-D 0 there and the gate's "above" cannot hold.
 */
async function shapesDataset(t: TestApp, name: string, train: number, validation: number): Promise<void> {
  const { datasets } = t.services;
  datasets.createDataset(name);
  for (const [i, s] of shapes("train", train + 1).entries()) {
    const image = fs.readFileSync(path.join(shapesRoot, "train", s.file_name));
    await datasets.addItem(name, { image, split: "train", captions: s.captions, reviewed: i < train });
  }
  for (const s of shapes("validation", validation)) {
    await datasets.addItem(name, { image: fs.readFileSync(path.join(shapesRoot, "validation", s.file_name)), split: "validation", captions: ["zzyzx qwxv"], reviewed: true });
  }
}

async function setup(): Promise<{ t: TestApp; admin: Record<string, string>; user: Record<string, string>; dataDir: string; close: () => Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-versions-"));
  const t = await testApp({ dataDir });
  const admin = { authorization: `Bearer ${t.services.keys.create("admin").key}` };
  const user = { authorization: `Bearer ${t.services.keys.create("user").key}` };
  return { t, admin, user, dataDir, close: async () => (await t.app.close(), fs.rmSync(dataDir, { recursive: true, force: true })) };
}

const SHORT = { epochs: 2, batch_size: 8, lr: 0.05, warmup_steps: 1, max_new_tokens: 8 };

async function finished(t: TestApp, id: string, headers: Record<string, string>) {
  await t.services.queue.waitFor(id, 120_000);
  return (await t.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers })).json();
}

test("a short train job: progress per epoch, a version with scores and latency; the gate refuses, an override promotes, captions come from the version", { timeout: 180_000 }, async () => {
  const { t, admin, close } = await setup();
  try {
    await shapesDataset(t, "shapes", 8, 3);
    let res = await t.app.inject({ method: "POST", url: "/v1/admin/jobs/train", headers: admin, payload: { dataset: "shapes", model: "blip", settings: SHORT } });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().kind, "train");
    const job = await finished(t, res.json().id, admin);
    assert.equal(job.state, "done", job.error);
    assert.equal(job.details.phase, "done");
    assert.equal(job.details.validation.length, 2, "validation scores of each epoch");
    assert.equal(job.details.trainLoss.length, 2);
    assert.equal(job.details.step, job.details.totalSteps);
    assert.equal(job.details.resumedFromStep, null);
    assert.deepEqual([job.details.model, job.details.base, job.details.dataset], ["blip", { model: "blip", version: null }, "shapes"]);
    const id = job.result.id as string;
    assert.match(id, /^v_[0-9a-f]{12}$/);

    res = await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: admin });
    assert.equal(res.statusCode, 200);
    const listed = res.json();
    assert.equal(listed.serving, null);
    assert.equal(listed.versions.length, 1);
    const v = listed.versions[0];
    assert.equal(v.id, id);
    assert.deepEqual(v.base, { model: "blip", version: null });
    assert.equal(v.dataset, "shapes");
    assert.deepEqual({ train: v.snapshot.trainItems, validation: v.snapshot.validationItems, reviewedOnly: v.snapshot.reviewedOnly }, { train: 8, validation: 3, reviewedOnly: true });
    assert.match(v.snapshot.sha256, /^[0-9a-f]{64}$/);
    assert.equal(v.settings.epochs, 2);
    assert.equal(v.settings.batch_size, 8);
    assert.equal(v.validation.epochs.length, 2);
    assert.equal(v.validation.after.CIDEr, 0);
    assert.equal(v.validation.before.CIDEr, 0);
    assert.ok(v.latency.candidateMs > 0 && v.latency.servingMs > 0 && v.latency.images === 3, JSON.stringify(v.latency));
    assert.equal(v.serving, false);
    const folder = path.join(t.services.config.dataDir, "models", "blip", id, "model");
    assert.ok(fs.existsSync(path.join(folder, "model.safetensors")) && fs.existsSync(path.join(folder, "config.json")), "the HF layout");
    assert.ok(!fs.existsSync(path.join(folder, "training")), "the resume state is gone once the version is recorded");

    // An eval job evaluates the version (its id as the model): the version's own captions of the split.
    res = await t.app.inject({ method: "POST", url: "/v1/admin/jobs/eval", headers: admin, payload: { dataset: "shapes", model: id, split: "validation", options: { max_new_tokens: 8 } } });
    assert.equal(res.statusCode, 202, res.body);
    const evaluated = await finished(t, res.json().id, admin);
    assert.equal(evaluated.state, "done", evaluated.error);
    const version = await Captioner.load(folder);
    try {
      const images = shapes("validation", 3).map((s) => fs.readFileSync(path.join(shapesRoot, "validation", s.file_name)));
      const own = (await version.caption(images, { maxNewTokens: 8 })).map((c) => c[0]!.text);
      assert.deepEqual(evaluated.result.items.map((i: { prediction: string }) => i.prediction), own);
    } finally {
      await version.release();
    }

    // The gate: CIDEr-D 0 is not above 0.
    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: id } });
    assert.equal(res.statusCode, 409, res.body);
    const refusal = res.json().error;
    assert.equal(refusal.code, "gate_refused");
    assert.ok(refusal.reasons.length >= 1);
    assert.match(refusal.reasons[0], /validation CIDEr-D 0\.0000 is not above 0\.0000/);
    assert.match(refusal.message, /override_reason/);

    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: id, override_reason: "the test wants it served" } });
    assert.equal(res.statusCode, 200, res.body);
    const promoted = res.json();
    assert.equal(promoted.previous, null);
    assert.equal(promoted.gate.passed, false);
    assert.equal(promoted.version.overrideReason, "the test wants it served");
    assert.deepEqual(promoted.version.overriddenReasons, refusal.reasons);
    assert.ok(promoted.version.promotedAt);

    const models = (await t.app.inject({ method: "GET", url: "/v1/models", headers: admin })).json();
    assert.equal(models.models[0].version, id);
    res = await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: admin });
    assert.equal(res.json().serving, id);
    assert.equal(res.json().versions[0].serving, true);

    // The name now captions with the version: its own captions, not the source's.
    const image = goldenImage("rgb_square.png");
    res = await t.app.inject({ method: "POST", url: "/v1/captions", headers: admin, payload: { images: [image.toString("base64")] } });
    assert.equal(res.statusCode, 200, res.body);
    const served = res.json().results[0].captions[0].text;
    const direct = await Captioner.load(folder);
    try {
      assert.equal(served, (await direct.caption([image]))[0]![0]!.text);
    } finally {
      await direct.release();
    }
    assert.notEqual(served, expectedCaptions("greedy_default")[0], "training changed the model's caption");

    // Promoting what already serves changes nothing.
    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: id } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().unchanged, true);
  } finally {
    await close();
  }
});

test("the gate's rule: CIDEr-D above and latency within 5 % passes; 6 % slower is refused with the numbers", { timeout: 60_000 }, async () => {
  const { t, admin, close } = await setup();
  try {
    const { versions } = t.services;
    // Versions as a train job records them, with the numbers the gate reads (its folders: the golden model).
    const make = (id: string, cider: number, candidateMs: number, jobId = `job-${id}`) => {
      fs.cpSync(goldenModel, versions.modelFolder("blip", id), { recursive: true });
      versions.add({
        id, model: "blip", base: { model: "blip", version: null }, dataset: "shapes",
        snapshot: { sha256: "0".repeat(64), trainItems: 1, validationItems: 1, reviewedOnly: true }, settings: { epochs: 1 },
        validation: { before: { CIDEr: 0.5 }, after: { CIDEr: cider }, epochs: [{ CIDEr: cider }], bestEpoch: 1, trainLoss: [1], steps: 1 },
        latency: { candidateMs, servingMs: 100, servingVersion: null, images: 8, runs: 5, measuredAt: new Date().toISOString() }, jobId,
      });
      versions.addBaseline(id, "source", 0.5);
    };
    make("v_000000000001", 0.6, 106);
    make("v_000000000002", 0.6, 104.9);
    let res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: "v_000000000001" } });
    assert.equal(res.statusCode, 409);
    assert.deepEqual(res.json().error.reasons.length, 1);
    assert.match(res.json().error.reasons[0], /caption latency 106\.0 ms is 6\.0 % above the serving model's 100\.0 ms \(at most 5 % allowed/);
    // Requests in flight while the version is swapped in are all answered.
    const image = goldenImage("gray_L.png").toString("base64");
    const requests = Array.from({ length: 12 }, (_, i) => new Promise((r) => setTimeout(r, i * 15)).then(() => t.app.inject({ method: "POST", url: "/v1/captions", headers: admin, payload: { images: [image] } })));
    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: "v_000000000002" } });
    assert.deepEqual((await Promise.all(requests)).map((r) => r.statusCode), Array(12).fill(200));
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().gate.reasons, []);
    assert.equal(res.json().gate.passed, true);
    assert.equal(res.json().version.overrideReason, null);
    assert.equal(versions.serving("blip")?.id, "v_000000000002");

    // Back to v1 while v2 serves: the gate scores v2 on v1's validation split and re-measures the latency against v2, and keeps both.
    const split = path.join(versions.folder("blip", "v_000000000001"), "snapshot", "validation");
    fs.mkdirSync(split, { recursive: true });
    fs.writeFileSync(path.join(split, "a.png"), goldenImage("rgb_square.png"));
    fs.writeFileSync(path.join(split, "b.png"), goldenImage("gray_L.png"));
    fs.writeFileSync(path.join(split, "metadata.jsonl"), '{"file_name": "a.png", "text": "a red square"}\n{"file_name": "b.png", "text": "a grey picture"}\n');
    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: "v_000000000001", override_reason: "latency noise between identical models" } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().previous, "v_000000000002");
    assert.equal(res.json().gate.servingVersion, "v_000000000002");
    const back = versions.get("v_000000000001")!;
    assert.equal(typeof back.baselines.v_000000000002, "number");
    assert.equal(res.json().gate.cider.serving, back.baselines.v_000000000002);
    assert.equal(back.latency.servingVersion, "v_000000000002");
    assert.equal(back.latency.images, 2);
    assert.equal(versions.serving("blip")?.id, "v_000000000001");
    // Unknown model or version, another model's version: 404.
    for (const [url, version] of [["/v1/admin/models/nope/promote", "v_000000000001"], ["/v1/admin/models/blip/promote", "v_0000000000ff"]] as const) {
      res = await t.app.inject({ method: "POST", url, headers: admin, payload: { version } });
      assert.equal(res.statusCode, 404, url);
      assert.ok(res.json().error.message);
    }
    assert.equal((await t.app.inject({ method: "GET", url: "/v1/admin/models/nope/versions", headers: admin })).statusCode, 404);
    // A version whose train job was cancelled (it recorded the version before it saw the cancel) is not promoted, even with an override.
    const cancelled = await t.services.queue.enqueue("no-worker", {});
    await t.services.queue.cancel(cancelled.id);
    make("v_000000000003", 0.9, 50, cancelled.id);
    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version: "v_000000000003", override_reason: "x" } });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error.code, "version_not_ready");
    assert.match(res.json().error.message, /train job .* is cancelled, not done/);
  } finally {
    await close();
  }
});

test("train job requests: roles, unknown dataset or model, settings checked by the table, an untrainable dataset; cancelling a running job", { timeout: 120_000 }, async () => {
  const { t, admin, user, dataDir, close } = await setup();
  try {
    await shapesDataset(t, "shapes", 4, 2);
    const post = (payload: object, headers = admin) => t.app.inject({ method: "POST", url: "/v1/admin/jobs/train", headers, payload });
    assert.equal((await t.app.inject({ method: "POST", url: "/v1/admin/jobs/train", payload: { dataset: "shapes", model: "blip" } })).statusCode, 401);
    assert.equal((await post({ dataset: "shapes", model: "blip" }, user)).statusCode, 403);
    assert.equal((await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: user })).statusCode, 403);
    assert.equal((await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: user, payload: { version: "v_000000000001" } })).statusCode, 403);
    let res = await post({ dataset: "nope", model: "blip" });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, "unknown_dataset");
    res = await post({ dataset: "shapes", model: "v_00000000abcd" });
    assert.equal(res.statusCode, 404);
    assert.match(res.json().error.message, /neither a configured model \(blip\) nor one of their versions/);
    res = await post({ dataset: "shapes", model: "blip", settings: { epochs: 0 } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /body\.settings\.epochs must be >= 1/);
    res = await post({ dataset: "shapes", model: "blip", settings: { save_state_seconds: 1 } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /unknown field "save_state_seconds"/);
    res = await post({ dataset: "shapes", model: "blip", settings: { lr: 0 } });
    assert.equal(res.statusCode, 400);
    t.services.datasets.createDataset("unreviewed");
    await t.services.datasets.addItem("unreviewed", { image: goldenImage("rgb_square.png"), split: "train", captions: ["a square"] });
    res = await post({ dataset: "unreviewed", model: "blip" });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /no reviewed items with captions in its train and validation splits/);

    // A long job, cancelled once it is training: it stops, and its files go.
    res = await post({ dataset: "shapes", model: "blip", settings: { epochs: 500, batch_size: 2, max_new_tokens: 4 } });
    assert.equal(res.statusCode, 202);
    const id = res.json().id;
    let job;
    for (let i = 0; i < 600; i++) {
      job = (await t.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: admin })).json();
      if (job.details?.step > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(job.state, "running");
    const version = job.details.version;
    assert.ok(fs.existsSync(path.join(dataDir, "models", "blip", version)));
    res = await t.app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: admin });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().state, "cancelled");
    await t.services.queue.waitFor(id);
    for (let i = 0; i < 100 && fs.existsSync(path.join(dataDir, "models", "blip", version)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!fs.existsSync(path.join(dataDir, "models", "blip", version)), "a cancelled job's folder is removed");
    assert.equal((await t.app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: admin })).json().state, "cancelled", "cancelling again answers the same");
    assert.equal((await t.app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: user })).statusCode, 404, "a user cannot see an admin's job");
    assert.equal((await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: admin })).json().versions.length, 0);
  } finally {
    await close();
  }
});

test("a graceful stop puts a running train job back in the queue; the next start resumes it where it stopped", { timeout: 180_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-versions-stop-"));
  // A server over a database file, so that a second one finds the first one's jobs.
  const start = async (): Promise<TestApp> => {
    const services = await openServices(testConfig({ dataDir }), { dbFile: path.join(dataDir, "captioner.db") });
    await services.registry.loadAll();
    await startJobHandlers(services);
    return { app: await buildApp({ services }), services };
  };
  let t = await start();
  try {
    const admin = { authorization: `Bearer ${t.services.keys.create("admin").key}` };
    await shapesDataset(t, "shapes", 6, 2);
    let res = await t.app.inject({ method: "POST", url: "/v1/admin/jobs/train", headers: admin, payload: { dataset: "shapes", model: "blip", settings: { epochs: 3, batch_size: 2, warmup_steps: 1, max_new_tokens: 4 } } });
    assert.equal(res.statusCode, 202, res.body);
    const url = `/v1/jobs/${res.json().id}`;
    let job;
    for (let i = 0; ; i++) {
      job = (await t.app.inject({ method: "GET", url, headers: admin })).json();
      if (job.details?.step >= 2) break;
      assert.ok(job.state === "queued" || job.state === "running", JSON.stringify(job));
      assert.ok(i < 1200, "the training did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    const seen = job.details.step;
    const stopping = performance.now();
    await t.app.close();
    const stopSeconds = (performance.now() - stopping) / 1000;

    t = await start();
    await t.services.queue.waitFor(job.id, 150_000);
    job = (await t.app.inject({ method: "GET", url, headers: admin })).json();
    assert.equal(job.state, "done", job.error);
    assert.equal(job.attempts, 1, "the stopped run gave its attempt back");
    assert.ok(job.details.resumedFromStep >= seen && job.details.resumedFromStep < job.details.totalSteps, `resumed at ${job.details.resumedFromStep}, stopped after step ${seen} of ${job.details.totalSteps} (the stop took ${stopSeconds.toFixed(1)} s)`);
    assert.equal(job.details.trainLoss.length, 3);
    assert.equal((await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: admin })).json().versions.length, 1);
  } finally {
    await t.app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
