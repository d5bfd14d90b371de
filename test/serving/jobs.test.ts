// The serving seams: the job access policy, the handler lists, and batch events — the remote caption
// service's (a worker's model calls come back with its job and become the API node's batches, over
// the embedded SQLite queue so no Redis is needed) and /metrics reading them through the contract.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildApp } from "../../src/api/app.js";
import { openServices } from "../../src/api/services.js";
import { Captioner } from "../../src/generation/captioner.js";
import { type BatchReport, type CaptionService, RemoteCaptionService } from "../../src/serving/caption_service.js";
import { openDatabase } from "../../src/serving/db.js";
import { CAPTION_JOB, jobView, mayAccessJob, RELOAD_JOB, serveCaptionJobs, serveJobs } from "../../src/serving/jobs/index.js";
import { type Job, SqliteJobQueue } from "../../src/serving/queue/index.js";
import { expectedCaptions, goldenImage, goldenModel, testConfig } from "../helpers/app.js";

const job = (kind: string, payload: object, result: unknown = null): Job => ({
  id: "j1",
  kind,
  payload,
  state: result === null ? "queued" : "done",
  progress: result === null ? 0 : 1,
  details: null,
  result,
  error: null,
  attempts: 0,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
});

test("job access: admins see every job; users their own caption jobs; unowned ones only while the server has no keys", () => {
  const admin = { id: "a", role: "admin" as const };
  const user = { id: "u", role: "user" as const };
  const other = { id: "o", role: "user" as const };
  const owned = job(CAPTION_JOB, { model: "blip", images: [], options: {}, owner: "u" });
  const unowned = job(CAPTION_JOB, { model: "blip", images: [], options: {} });
  const reload = job(RELOAD_JOB, { model: "blip" });
  const cases: [Job, (typeof admin | typeof user | null)[], (typeof admin | typeof user | null)[]][] = [
    [owned, [admin, user], [other, null]],
    // Submitted while no keys existed: open to callers without a key (the server still has none), admins-only once keys exist.
    [unowned, [admin, null], [user, other]],
    [reload, [admin], [user, other, null]],
  ];
  for (const [j, may, mayNot] of cases) {
    for (const caller of may) assert.equal(mayAccessJob(j, caller), true, `${j.kind} ${JSON.stringify(j.payload)} for ${caller?.id}`);
    for (const caller of mayNot) assert.equal(mayAccessJob(j, caller), false, `${j.kind} ${JSON.stringify(j.payload)} for ${caller?.id}`);
  }
});

test("the job view shows neither the payload nor a worker's batch report", () => {
  const result = { captions: [[{ text: "a dog" }]], worker: "host:1", batches: [{ images: 1, seconds: 0.1, generatedTokens: 3 }] };
  const view = jobView(job(CAPTION_JOB, { model: "blip", images: ["xx"], options: {} }, result));
  assert.equal("payload" in view, false);
  assert.deepEqual(view.result, { captions: [[{ text: "a dog" }]], worker: "host:1" });
  assert.deepEqual(jobView(job(RELOAD_JOB, { model: "blip" }, { model: "blip", loadSeconds: 1 })).result, { model: "blip", loadSeconds: 1 });
});

test("one handler per kind in a process", async () => {
  const queue = new SqliteJobQueue(openDatabase(":memory:"));
  try {
    const handler = { kind: RELOAD_JOB, handle: async () => ({ model: "x", loadSeconds: null }) } as const;
    await assert.rejects(serveJobs(queue, [handler, handler]), /two handlers for job kind "model.reload"/);
  } finally {
    await queue.close();
  }
});

test("remote captioning reports the worker's model calls as its batches", async () => {
  const db = openDatabase(":memory:");
  const queue = new SqliteJobQueue(db, { pollMs: 20 });
  const captioner = await Captioner.load(goldenModel, { threads: 1 });
  try {
    await serveCaptionJobs(queue, async () => captioner, { chunk: 2 });
    const service = new RemoteCaptionService(queue, ["blip"], testConfig().limits);
    const reports: BatchReport[] = [];
    service.onBatch((r) => reports.push(r));
    service.onBatch(() => {
      throw new Error("a broken listener");
    });
    const names = ["rgb_square.png", "rgb_nonsquare_jpeg.jpg", "gray_L.png"];
    const captions = await service.caption("blip", names.map((n) => new Uint8Array(goldenImage(n))), { maxNewTokens: 8 });
    assert.deepEqual(captions.map((list) => list[0]!.text), expectedCaptions("batch3_greedy_max_new_tokens"));
    // Chunks of 2: two model calls on the worker, each with its images and new tokens (≤ 8 per image).
    assert.deepEqual(reports.map((r) => [r.model, r.images, r.requests, r.failed]), [["blip", 2, 1, false], ["blip", 1, 1, false]]);
    for (const r of reports) assert.ok(r.generatedTokens > 0 && r.generatedTokens <= 8 * r.images && r.seconds > 0, JSON.stringify(r));
  } finally {
    await queue.close();
    await captioner.release();
    db.close();
  }
});

test("/metrics counts batches of any CaptionService through onBatch (here a remote-mode stand-in)", async () => {
  const services = await openServices(testConfig(), { dbFile: ":memory:" });
  const listeners: ((batch: BatchReport) => void)[] = [];
  const remote: CaptionService = {
    mode: "remote",
    caption: async () => [],
    check: async () => undefined,
    refuseWhenFull: () => undefined,
    onBatch: (listener) => void listeners.push(listener),
    depth: async () => 0,
    close: async () => undefined,
  };
  const app = await buildApp({ services: { ...services, captions: remote } });
  try {
    for (const images of [3, 1]) listeners.forEach((l) => l({ model: "blip", images, requests: 1, seconds: 0.5, generatedTokens: 10 * images, failed: false }));
    const metrics = (await app.inject({ method: "GET", url: "/metrics" })).body;
    assert.match(metrics, /captioner_model_calls_total\{model="blip"\} 2\b/);
    assert.match(metrics, /captioner_batch_size_sum\{model="blip"\} 4\b/);
    assert.match(metrics, /captioner_generated_tokens_total\{model="blip"\} 40\b/);
    assert.match(metrics, /captioner_generated_tokens_per_second\{model="blip"\} 20\b/);
  } finally {
    await app.close();
  }
});
