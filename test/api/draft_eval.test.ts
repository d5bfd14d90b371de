// Caption drafting, review and evaluation over HTTP (issue 11) with the golden model and shapes images:
// a draft job fills uncaptioned items with what POST /v1/captions answers, unreviewed, and leaves human
// captions alone; reviewers accept, edit or reject; an eval job scores exactly as src/eval's evaluate
// does on the same items and serves its HTML report; admins only; errors say what to fix.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { FastifyInstance } from "fastify";
import type { Services } from "../../src/api/services.js";
import { datasetJobs } from "../../src/api/services.js";
import { evaluate } from "../../src/eval/evaluate.js";
import { Captioner } from "../../src/generation/captioner.js";
import { DRAFT_JOB, type DraftJobResult, EVAL_JOB, type EvalJobResult } from "../../src/serving/jobs/index.js";
import { draftJobs } from "../../src/serving/jobs/draft.js";
import { evalJobs } from "../../src/serving/jobs/eval.js";
import type { Job } from "../../src/serving/queue/types.js";
import { buildApp } from "../../src/api/app.js";
import { openServices, startJobHandlers } from "../../src/api/services.js";
import { serveJobs, workerJobHandlers } from "../../src/serving/jobs/index.js";
import { BullJobQueue } from "../../src/serving/queue/bullmq.js";
import { ModelRegistry } from "../../src/serving/registry.js";
import { goldenModel, multipart, type Part, testApp, testConfig } from "../helpers/app.js";
import { redisSkip, startRedis } from "../helpers/redis.js";
import { shapesRoot } from "../helpers/shapes.js";

const shape = (split: string, i: number) => fs.readFileSync(path.join(shapesRoot, split, `${String(i).padStart(6, "0")}.png`));
const OPTIONS = { max_new_tokens: 8 };

interface Item {
  id: string;
  split: string;
  captions: string[];
  reviewed: boolean;
}

describe("draft → review → eval jobs", () => {
  let app: FastifyInstance;
  let services: Services;
  let dataDir: string;
  let admin: Record<string, string>;
  let contributor: Record<string, string>;
  let user: Record<string, string>;
  /** Items of dataset "shapes": four uncaptioned and one human-captioned in validation, one uncaptioned in train. */
  const ids: Record<string, string> = {};
  const images: Record<string, Buffer> = {};

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-draft-eval-"));
    ({ app, services } = await testApp({ dataDir }));
    admin = { authorization: `Bearer ${services.keys.create("admin").key}` };
    contributor = { "x-api-key": services.keys.create("contributor").key };
    user = { "x-api-key": services.keys.create("user").key };
    await createDataset("shapes");
    for (const [name, split, i, captions] of [["a", "validation", 0, []], ["b", "validation", 1, []], ["c", "validation", 2, []], ["d", "validation", 3, []], ["human", "validation", 4, ["a human caption"]], ["t", "train", 0, []]] as const) {
      images[name] = shape(split, i);
      ids[name] = (await addItem("shapes", images[name], split, captions)).id;
    }
  });
  after(async () => {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const createDataset = async (name: string) => assert.equal((await app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { name } })).statusCode, 201);
  async function addItem(dataset: string, image: Buffer, split: string, captions: readonly string[]): Promise<Item> {
    const body = multipart([{ name: "image", file: { data: image, type: "image/png" } }, { name: "split", value: split }, ...captions.map((value): Part => ({ name: "caption", value }))]);
    const res = await app.inject({ method: "POST", url: `/v1/datasets/${dataset}/items`, headers: { ...contributor, ...body.headers }, payload: body.payload });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  }
  const item = async (name: string, dataset = "shapes"): Promise<Item> => (await app.inject({ method: "GET", url: `/v1/datasets/${dataset}/items?limit=1000`, headers: contributor })).json().items.find((i: Item) => i.id === ids[name] || i.id === name);
  const post = (url: string, payload: object, headers = admin) => app.inject({ method: "POST", url, headers, payload });
  /** Submits a job (202), waits for it, and returns it as GET /v1/jobs/{id} shows it. */
  async function runJob(kind: "draft" | "eval", payload: object): Promise<Job> {
    const res = await post(`/v1/admin/jobs/${kind}`, payload);
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().kind, kind);
    await services.queue.waitFor(res.json().id, 30_000);
    const job = (await app.inject({ method: "GET", url: `/v1/jobs/${res.json().id}`, headers: admin })).json();
    assert.equal(job.state, "done", job.error);
    return job;
  }
  /** What POST /v1/captions answers for one image with `options` (and features/style). */
  async function captionsOf(image: Buffer, fields: object = {}) {
    const res = await post("/v1/captions", { images: [image.toString("base64")], options: OPTIONS, ...fields }, user);
    assert.equal(res.statusCode, 200, res.body);
    return res.json().results[0];
  }
  const errorOf = (res: { statusCode: number; json(): { error: { code: string } } }) => [res.statusCode, res.json().error.code];

  test("draft: uncaptioned items of the split get what /v1/captions answers, unreviewed; human captions and other splits are left alone", async () => {
    const job = await runJob("draft", { dataset: "shapes", model: "blip", split: "validation", options: OPTIONS });
    const result = job.result as DraftJobResult;
    assert.deepEqual({ ...result, progress: job.progress }, {
      dataset: "shapes", model: "blip", split: "validation", style: null, total: 4, drafted: 4, skipped: { captioned: 0, deleted: 0 }, failed: [], llm: null, progress: 1,
    });
    for (const name of ["a", "b", "c", "d"]) {
      const expected = (await captionsOf(images[name]!)).captions.map((c: { text: string }) => c.text);
      assert.ok(expected[0].length > 0);
      assert.deepEqual(await item(name), { ...(await item(name)), captions: expected, reviewed: false }, name);
    }
    assert.deepEqual((await item("human")).captions, ["a human caption"]);
    assert.deepEqual((await item("t")).captions, []);
    // A user or contributor cannot read an admin job.
    assert.equal((await app.inject({ method: "GET", url: `/v1/jobs/${job.id}`, headers: contributor })).statusCode, 404);
  });

  test("review: the queue of captions to review; accept, edit, reject; PATCH {reviewed} still works", async () => {
    const queue = (await app.inject({ method: "GET", url: "/v1/datasets/shapes/items?reviewed=false&captioned=true", headers: contributor })).json().items.map((i: Item) => i.id);
    assert.deepEqual(queue, ["a", "b", "c", "d", "human"].map((n) => ids[n]));
    const review = (name: string, body: object) => post(`/v1/datasets/shapes/items/${ids[name]}/review`, body, contributor);

    const drafted = (await item("a")).captions;
    let res = await review("a", { action: "accept" });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().captions, res.json().reviewed], [drafted, true]);
    res = await review("b", { action: "edit", captions: ["a shape on a background"] });
    assert.deepEqual([res.json().captions, res.json().reviewed], [["a shape on a background"], true]);
    res = await review("c", { action: "reject" });
    assert.deepEqual([res.json().captions, res.json().reviewed], [[], false]);
    res = await app.inject({ method: "PATCH", url: `/v1/datasets/shapes/items/${ids.d}`, headers: contributor, payload: { reviewed: true } });
    assert.deepEqual([res.json().captions, res.json().reviewed], [(await item("d")).captions, true]);

    assert.deepEqual(errorOf(await review("c", { action: "accept" })), [409, "nothing_to_accept"]);
    assert.deepEqual(errorOf(await review("c", { action: "edit" })), [400, "invalid_review"]);
    assert.deepEqual(errorOf(await review("a", { action: "accept", captions: ["x"] })), [400, "invalid_review"]);
    assert.deepEqual(errorOf(await review("a", { action: "approve" })), [400, "invalid_request"]);
    assert.deepEqual(errorOf(await post("/v1/datasets/shapes/items/nope/review", { action: "accept" }, contributor)), [404, "unknown_item"]);
    assert.deepEqual(errorOf(await post(`/v1/datasets/shapes/items/${ids.a}/review`, { action: "accept" }, user)), [403, "contributor_only"]);
    assert.deepEqual(errorOf(await app.inject({ method: "POST", url: `/v1/datasets/shapes/items/${ids.a}/review`, payload: { action: "accept" } })), [401, "missing_api_key"]);
    const uncaptioned = (await app.inject({ method: "GET", url: "/v1/datasets/shapes/items?captioned=false", headers: contributor })).json().items.map((i: Item) => i.id);
    assert.deepEqual(uncaptioned, [ids.c, ids.t]);
  });

  test("eval: the metrics and per-item results of src/eval's evaluate on the same items; the HTML report for admins", async () => {
    const job = await runJob("eval", { dataset: "shapes", model: "blip", options: OPTIONS });
    const result = job.result as EvalJobResult;
    // Reviewed captioned items of the default split (validation): a, b, d in store order.
    const reviewed = await Promise.all(["a", "b", "d"].map((n) => item(n)));
    const captioner = await Captioner.load(goldenModel, { threads: 1 });
    let expected;
    try {
      const files = reviewed.map((it, i) => {
        const file = path.join(dataDir, `expected-${i}.png`);
        fs.writeFileSync(file, images[["a", "b", "d"][i]!]!);
        return { id: it.id, file, references: it.captions };
      });
      expected = await evaluate(captioner, files, { caption: { maxNewTokens: 8 } });
    } finally {
      await captioner.release();
    }
    const { images_per_s: _rate, ...scores } = expected;
    assert.deepEqual({ ...result, images_per_s: undefined }, { dataset: "shapes", split: "validation", model: "blip", reviewed_only: true, report: `/v1/admin/jobs/${job.id}/report`, ...scores, images_per_s: undefined, skipped: [] });
    assert.equal(result.items.length, 3);
    assert.ok(result.images_per_s > 0);

    const url = `/v1/admin/jobs/${job.id}/report`;
    const report = await app.inject({ method: "GET", url, headers: admin });
    assert.equal(report.statusCode, 200);
    assert.match(report.headers["content-type"] as string, /^text\/html/);
    assert.match(report.body, /^<!DOCTYPE html>/);
    for (const it of reviewed) assert.ok(report.body.includes(it.id));
    assert.ok(report.body.includes(result.coco.CIDEr.toFixed(4)));
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url, headers: contributor })), [403, "admin_only"]);
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url })), [401, "missing_api_key"]);
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url: "/v1/admin/jobs/nope/report", headers: admin })), [404, "job_not_found"]);

    // reviewed_only false: the human's unreviewed caption counts too.
    const all = (await runJob("eval", { dataset: "shapes", split: "validation", reviewed_only: false, options: OPTIONS })).result as EvalJobResult;
    assert.deepEqual(all.items.map((i) => i.id), ["a", "b", "d", "human"].map((n) => ids[n]));
  });

  test("draft with overwrite and a style: every item of the split gets the description /v1/captions gives in that style", async () => {
    await createDataset("styled");
    const human = await addItem("styled", shape("validation", 5), "validation", ["written by hand"]);
    const plain = await addItem("styled", shape("validation", 6), "validation", []);
    const job = await runJob("draft", { dataset: "styled", overwrite: true, style: "short", options: OPTIONS });
    assert.deepEqual([(job.result as DraftJobResult).drafted, (job.result as DraftJobResult).llm], [2, { used: 0, fallback: 2 }]);
    for (const [it, i] of [[human, 5], [plain, 6]] as const) {
      const expected = (await captionsOf(shape("validation", i), { features: "caption,description", style: "short" })).description.text;
      assert.deepEqual([(await item(it.id, "styled")).captions, (await item(it.id, "styled")).reviewed], [[expected], false]);
    }
  });

  test("items deleted or captioned while the job runs are skipped, not failures", async () => {
    await createDataset("racing");
    const added: Item[] = [];
    for (let i = 0; i < 4; i++) added.push(await addItem("racing", shape("train", 10 + i), "train", []));
    const { deps } = datasetJobs(services);
    const handler = draftJobs({ ...deps, limits: { ...deps.limits, maxImagesPerRequest: 2 } });
    let batches = 0;
    const ctx = {
      signal: new AbortController().signal,
      // After the first batch: one item of the second batch goes, a person captions the other.
      progress: async () => {
        if (batches++ > 0) return;
        await app.inject({ method: "DELETE", url: `/v1/datasets/racing/items/${added[2]!.id}`, headers: admin });
        await app.inject({ method: "PATCH", url: `/v1/datasets/racing/items/${added[3]!.id}`, headers: contributor, payload: { captions: ["by hand"] } });
      },
    };
    const payload = { dataset: "racing", model: "blip", overwrite: false, options: { maxNewTokens: 8 } };
    const job = { id: "j", kind: DRAFT_JOB, payload, state: "running", progress: 0, details: null, result: null, error: null, attempts: 1, createdAt: "", updatedAt: "" } as const;
    const result = await handler.handle(job, ctx);
    assert.deepEqual([result.total, result.drafted, result.skipped, result.failed], [4, 2, { captioned: 1, deleted: 1 }, []]);
    assert.deepEqual((await item(added[3]!.id, "racing")).captions, ["by hand"]);
  });

  test("an item deleted while an eval job runs is left out (listed in `skipped`), not a failure", async () => {
    await createDataset("evalrace");
    const added: Item[] = [];
    for (let i = 0; i < 4; i++) added.push(await addItem("evalrace", shape("train", 10 + i), "train", ["a shape"]));
    const { deps, targets } = datasetJobs(services);
    const handler = evalJobs({ ...deps, limits: { ...deps.limits, maxImagesPerRequest: 2 } }, targets);
    let batches = 0;
    // After the first batch, an item of the second goes (synchronously: before the next batch is read).
    const ctx = { signal: new AbortController().signal, progress: async () => void (batches++ === 0 && services.datasets.deleteItem("evalrace", added[2]!.id)) };
    const payload = { dataset: "evalrace", split: "train" as const, target: { model: "blip" }, reviewedOnly: false, options: { maxNewTokens: 8 } };
    const job = { id: "e", kind: EVAL_JOB, payload, state: "running", progress: 0, details: null, result: null, error: null, attempts: 1, createdAt: "", updatedAt: "" } as const;
    const result = await handler.handle(job, ctx);
    assert.deepEqual([result.n, result.items.map((i) => i.id), result.skipped], [3, [added[0]!.id, added[1]!.id, added[3]!.id], [added[2]!.id]]);
  });

  test("a cancelled draft stops after the batch in flight: drafted items keep their drafts, the rest stay uncaptioned", async () => {
    await createDataset("cancelled");
    const added: Item[] = [];
    for (let i = 0; i < 4; i++) added.push(await addItem("cancelled", shape("train", 20 + i), "train", []));
    const { deps } = datasetJobs(services);
    const handler = draftJobs({ ...deps, limits: { ...deps.limits, maxImagesPerRequest: 2 } });
    const cancel = new AbortController();
    const ctx = { signal: cancel.signal, progress: async () => cancel.abort() };
    const payload = { dataset: "cancelled", model: "blip", overwrite: false, options: { maxNewTokens: 8 } };
    const job = { id: "k", kind: DRAFT_JOB, payload, state: "running", progress: 0, details: null, result: null, error: null, attempts: 1, createdAt: "", updatedAt: "" } as const;
    await assert.rejects(handler.handle(job, ctx), /cancelled/);
    const captions = await Promise.all(added.map(async (it) => (await item(it.id, "cancelled")).captions.length));
    assert.deepEqual(captions.map((n) => n > 0), [true, true, false, false]);
  });

  test("admins only; unknown dataset or model 404; bad options, styles and empty selections 400", async () => {
    await createDataset("done");
    await addItem("done", shape("validation", 7), "validation", ["already captioned"]);
    for (const kind of ["draft", "eval"]) {
      const url = `/v1/admin/jobs/${kind}`;
      assert.deepEqual(errorOf(await app.inject({ method: "POST", url, payload: { dataset: "shapes" } })), [401, "missing_api_key"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes" }, user)), [403, "admin_only"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes" }, contributor)), [403, "admin_only"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "nope" })), [404, "unknown_dataset"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes", model: "gpt" })), [404, "unknown_model"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes", options: { num_beams: 99 } })), [400, "invalid_request"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes", options: { num_beams: 2, num_return_sequences: 3 } })), [400, "invalid_option"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes", split: "dev" })), [400, "invalid_request"], kind);
      assert.deepEqual(errorOf(await post(url, { dataset: "shapes", temperature: 1 })), [400, "invalid_request"], kind);
    }
    let res = await post("/v1/admin/jobs/draft", { dataset: "done" });
    assert.deepEqual(errorOf(res), [400, "nothing_to_draft"]);
    assert.match(res.json().error.message, /"overwrite": true/);
    assert.deepEqual(errorOf(await post("/v1/admin/jobs/draft", { dataset: "shapes", style: "poem" })), [400, "unknown_style"]);
    assert.deepEqual(errorOf(await post("/v1/admin/jobs/draft", { dataset: "shapes", style: "tags-json" })), [400, "unsupported_style"]);
    res = await post("/v1/admin/jobs/eval", { dataset: "done" });
    assert.deepEqual(errorOf(res), [400, "nothing_to_evaluate"]);
    assert.match(res.json().error.message, /reviewed_only/);
    assert.deepEqual(errorOf(await post("/v1/admin/jobs/eval", { dataset: "done", split: "train", reviewed_only: false })), [400, "nothing_to_evaluate"]);
  });
});

describe("draft and eval with --redis: the API process runs them, the workers caption", { skip: redisSkip }, () => {
  test("a draft job's captions are the worker's; an eval job scores them", async () => {
    const redis = await startRedis();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-draft-eval-redis-"));
    const config = { ...testConfig({ dataDir }), redisUrl: redis.url };
    // A worker (`captioner worker` in-process): the golden model, caption jobs only.
    const workerQueue = new BullJobQueue(redis.url);
    const workerModels = new ModelRegistry(config.models, { allowDownloads: false, threads: 1 });
    await workerModels.loadAll();
    await serveJobs(workerQueue, workerJobHandlers({ registry: workerModels, limits: config.limits, concurrency: 1 }));
    const services = await openServices(config, { dbFile: ":memory:" });
    await startJobHandlers(services);
    const app = await buildApp({ services });
    try {
      const admin = { authorization: `Bearer ${services.keys.create("admin").key}` };
      services.datasets.createDataset("remote");
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await services.datasets.addItem("remote", { image: shape("validation", 20 + i), split: "validation" })).id);
      const submit = async (kind: string, payload: object): Promise<Job> => {
        const res = await app.inject({ method: "POST", url: `/v1/admin/jobs/${kind}`, headers: admin, payload });
        assert.equal(res.statusCode, 202, res.body);
        const job = await services.queue.waitFor(res.json().id, 30_000);
        assert.equal(job.state, "done", job.error ?? "");
        return job;
      };
      assert.equal(((await submit("draft", { dataset: "remote", options: OPTIONS })).result as DraftJobResult).drafted, 3);
      for (const [i, id] of ids.entries()) {
        const res = await app.inject({ method: "POST", url: "/v1/captions", headers: admin, payload: { images: [shape("validation", 20 + i).toString("base64")], options: OPTIONS } });
        assert.deepEqual(services.datasets.getItem("remote", id).captions, [res.json().results[0].captions[0].text]);
      }
      const scored = (await submit("eval", { dataset: "remote", reviewed_only: false, options: OPTIONS })).result as EvalJobResult;
      // The drafts are the references, so the model scores perfectly against them.
      assert.deepEqual([scored.n, scored.coco.Bleu_1 > 0.99], [3, true]);
    } finally {
      await app.close();
      await workerQueue.close();
      await workerModels.close();
      await redis.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
