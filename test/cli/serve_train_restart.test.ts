// A train job survives `kill -9` of `captioner serve`: the server is killed while the job trains
// its second epoch, restarted on the same data dir, and the job resumes from the state saved after
// the first epoch and ends with its version. That version, promoted, is still what the model name
// serves after another restart.
import test from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { blipCaseDir, repoRoot } from "../helpers/golden.js";
import { serveProcess } from "../helpers/serve_process.js";
import { goldenImage, multipart } from "../helpers/app.js";
import { shapesRoot } from "../helpers/shapes.js";

const model = blipCaseDir("base_like_32px");
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await exited;
}

interface TrainJob {
  state: string;
  attempts: number;
  error: string | null;
  details: { step: number; totalSteps: number | null; validation: unknown[]; trainLoss: number[]; resumedFromStep: number | null; version: string } | null;
  result: { id: string } | null;
}

test("a train job killed with the server resumes from its checkpoint after the restart; a promoted version survives a restart", { timeout: 180_000 }, async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-train-restart-"));
  const servers: ChildProcess[] = [];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, "keys", "create", "--role", "admin"], { env: { ...process.env, CAPTIONER_HOME: home } });
    const headers = { authorization: `Bearer ${stdout.trim()}` };
    const json = { ...headers, "content-type": "application/json" };
    let server = await serveProcess(home);
    servers.push(server.child);
    const call = async (method: string, route: string, body?: unknown) => {
      const res = await fetch(`${server.url}${route}`, { method, headers: body === undefined ? headers : json, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    assert.equal((await call("POST", "/v1/datasets", { name: "shapes" })).status, 201);
    const lines = (split: string, n: number) => fs.readFileSync(path.join(shapesRoot, split, "metadata.jsonl"), "utf8").trim().split("\n").slice(0, n).map((l) => JSON.parse(l) as { file_name: string; captions: string[] });
    const stepsPerEpoch = Math.ceil(lines("train", 6).reduce((n, l) => n + l.captions.length, 0) / 4);
    for (const [split, items] of [["train", lines("train", 6)], ["validation", lines("validation", 2)]] as const) {
      for (const item of items) {
        const form = multipart([{ name: "image", file: { data: fs.readFileSync(path.join(shapesRoot, split, item.file_name)), filename: item.file_name } }, ...item.captions.map((c) => ({ name: "caption", value: c })), { name: "split", value: split }, { name: "reviewed", value: "true" }]);
        const res = await fetch(`${server.url}/v1/datasets/shapes/items`, { method: "POST", headers: { ...headers, ...form.headers }, body: form.payload });
        assert.equal(res.status, 201, await res.text());
      }
    }
    const submitted = await call("POST", "/v1/admin/jobs/train", { dataset: "shapes", model: "blip", settings: { epochs: 4, batch_size: 4, lr: 0.05, warmup_steps: 1, max_new_tokens: 8 } });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const jobUrl = `/v1/jobs/${submitted.body.id}`;
    // Killed in the second epoch: the state saved at the end of the first is on disk by then.
    let job: TrainJob;
    for (;;) {
      job = (await call("GET", jobUrl)).body;
      assert.ok(job.state === "queued" || job.state === "running", `the job ended before it could be killed: ${JSON.stringify(job)}`);
      if ((job.details?.step ?? 0) > stepsPerEpoch) break;
      await sleep(20);
    }
    await stop(server.child, "SIGKILL");
    const killedAt = job.details!.step;
    assert.ok(killedAt < job.details!.totalSteps!, "killed mid-run");

    server = await serveProcess(home);
    servers.push(server.child);
    for (let i = 0; ; i++) {
      job = (await call("GET", jobUrl)).body;
      if (job.state !== "queued" && job.state !== "running") break;
      assert.ok(i < 1200, "the resumed job did not finish in 2 minutes");
      await sleep(100);
    }
    assert.equal(job.state, "done", job.error ?? "");
    assert.equal(job.attempts, 2, "started again after the restart");
    const resumedAt = job.details!.resumedFromStep!;
    assert.ok(resumedAt >= stepsPerEpoch && resumedAt <= killedAt, `resumed at step ${resumedAt}: the state after epoch 1 (${stepsPerEpoch} steps), before the kill at ${killedAt}`);
    assert.equal(job.details!.trainLoss.length, 4);
    assert.equal(job.details!.validation.length, 4);
    const version = job.result!.id;
    const listed = await call("GET", "/v1/admin/models/blip/versions");
    assert.deepEqual(listed.body.versions.map((v: { id: string }) => v.id), [version]);
    assert.equal(listed.body.versions[0].validation.steps, job.details!.totalSteps);

    const promoted = await call("POST", "/v1/admin/models/blip/promote", { version, override_reason: "restart test" });
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    const image = goldenImage("rgb_square.png").toString("base64");
    const before = await call("POST", "/v1/captions", { images: [image] });
    assert.equal(before.status, 200);
    await stop(server.child, "SIGTERM");
    server = await serveProcess(home);
    servers.push(server.child);
    let models;
    for (let i = 0; i < 300; i++) {
      models = (await call("GET", "/v1/models")).body;
      if (models.models[0].state === "ready") break;
      await sleep(100);
    }
    assert.equal(models.models[0].version, version, "the promoted version serves after the restart");
    assert.equal((await call("GET", "/v1/admin/models/blip/versions")).body.serving, version);
    const after = await call("POST", "/v1/captions", { images: [image] });
    assert.deepEqual(after.body.results, before.body.results);
  } finally {
    for (const child of servers) if (child.exitCode === null && child.signalCode === null) await stop(child, "SIGTERM");
    fs.rmSync(home, { recursive: true, force: true });
  }
});
