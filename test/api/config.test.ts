// Server configuration (file → environment → flags) and the --redis wiring: with a Redis URL the
// API captions through caption jobs that a worker process runs (a real redis-server on loopback).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { buildApp } from "../../src/api/app.js";
import { openServices } from "../../src/api/services.js";
import { Captioner } from "../../src/generation/captioner.js";
import { RemoteCaptionService } from "../../src/serving/caption_service.js";
import { ConfigError, DEFAULT_LIMITS, loadServerConfig } from "../../src/serving/config.js";
import { BullJobQueue } from "../../src/serving/queue/bullmq.js";
import { serveCaptionJobs } from "../../src/serving/jobs/index.js";
import { expectedCaptions, goldenImage, goldenModel, pocUpload } from "../helpers/app.js";
import { redisSkip } from "../helpers/redis.js";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "captioner-config-"));

test("defaults: blip = Salesforce/blip-image-captioning-base on 0.0.0.0:8000", () => {
  const config = loadServerConfig({ env: { CAPTIONER_HOME: "/data/cap" } });
  assert.deepEqual(config.models, { blip: { source: "Salesforce/blip-image-captioning-base" } });
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.port, 8000);
  assert.deepEqual(config.limits, DEFAULT_LIMITS);
  assert.equal(config.limits.maxUploadBytes, 20 * 1024 * 1024);
  assert.equal(config.allowDownloads, true);
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.dataDir, "/data/cap");
  assert.equal(loadServerConfig({ env: { HF_HUB_OFFLINE: "1" } }).allowDownloads, false);
  // The same reading of the environment as the hub client (which also honours TRANSFORMERS_OFFLINE).
  assert.equal(loadServerConfig({ env: { TRANSFORMERS_OFFLINE: "yes" } }).allowDownloads, false);
  assert.ok(Object.isFrozen(config.limits));
});

test("file, then CAPTIONER_* environment, then flags; models merge by name", () => {
  const dir = tmp();
  const file = path.join(dir, "captioner.json");
  fs.writeFileSync(file, JSON.stringify({ port: 9000, host: "127.0.0.1", models: { blip: "org/a", large: { source: "org/large", revision: "v2", quantize: "int8" }, small: { source: "org/small", quantize: "int4" } }, limits: { maxBeams: 3, batchSize: 4 }, dataDir: dir }));
  const config = loadServerConfig({
    file,
    env: { CAPTIONER_PORT: "9100", CAPTIONER_MAX_BEAMS: "7", CAPTIONER_MODELS: "extra=org/extra@dev", CAPTIONER_REDIS_URL: "redis://r:6379" },
    flags: { port: 9200, models: [`blip=${goldenModel}`] },
  });
  assert.equal(config.port, 9200);
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.limits.maxBeams, 7);
  assert.equal(config.limits.batchSize, 4);
  assert.equal(config.dataDir, dir);
  assert.equal(config.redisUrl, "redis://r:6379");
  assert.deepEqual(config.models, { blip: { source: goldenModel }, large: { source: "org/large", revision: "v2", quantize: "int8" }, small: { source: "org/small", quantize: "int4" }, extra: { source: "org/extra", revision: "dev" } });
  fs.rmSync(dir, { recursive: true });
});

test("bad settings are refused with the setting's name and what is allowed", () => {
  const dir = tmp();
  const write = (doc: unknown) => (fs.writeFileSync(path.join(dir, "c.json"), typeof doc === "string" ? doc : JSON.stringify(doc)), path.join(dir, "c.json"));
  const cases: [() => unknown, RegExp][] = [
    [() => loadServerConfig({ flags: { models: ["blip"] } }), /--model "blip" must look like NAME=SOURCE/],
    [() => loadServerConfig({ flags: { models: ["bad name=x"] } }), /model name "bad name"/],
    [() => loadServerConfig({ flags: { port: "80000" } }), /--port must be a whole number from 0 to 65535/],
    [() => loadServerConfig({ env: { CAPTIONER_MAX_BEAMS: "0" } }), /CAPTIONER_MAX_BEAMS must be a whole number from 1/],
    [() => loadServerConfig({ env: { CAPTIONER_ALLOW_DOWNLOADS: "maybe" } }), /CAPTIONER_ALLOW_DOWNLOADS must be true or false/],
    [() => loadServerConfig({ flags: { redis: "localhost:6379" } }), /must start with redis:\/\//],
    [() => loadServerConfig({ file: write("{port:") }), /is not valid JSON/],
    [() => loadServerConfig({ file: write({ prot: 1 }) }), /unknown setting "prot".*known settings: host, port/],
    [() => loadServerConfig({ file: write({ limits: { maxBeam: 1 } }) }), /unknown setting limits.maxBeam/],
    [() => loadServerConfig({ file: write({ models: { blip: { source: "a/b", quantize: "int2" } } }) }), /quantize of models.blip.*"none", "int8" or "int4"/],
    [() => loadServerConfig({ file: path.join(dir, "missing.json") }), /cannot read the config file/],
  ];
  for (const [load, message] of cases) assert.throws(load, (e: Error) => e instanceof ConfigError && message.test(e.message), String(message));
  fs.rmSync(dir, { recursive: true });
});

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

test("--redis: the API node captions through caption jobs run by a worker", { skip: redisSkip }, async () => {
  const port = await freePort();
  const redis: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const dir = tmp();
  try {
    const redisUrl = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 100));
    const config = loadServerConfig({ env: {}, flags: { models: [`blip=${goldenModel}`], redis: redisUrl, dataDir: dir } });
    const services = await openServices(config, { dbFile: ":memory:" });
    assert.ok(services.captions instanceof RemoteCaptionService, "the remote path is selected");
    const app = await buildApp({ services });
    const workerQueue = new BullJobQueue(redisUrl);
    const captioner = await Captioner.load(goldenModel);
    try {
      await serveCaptionJobs(workerQueue, async () => captioner);
      assert.equal((await app.inject({ method: "GET", url: "/readyz" })).statusCode, 200);
      assert.equal((await app.inject({ method: "GET", url: "/v1/models" })).json().models[0].state, "remote");
      const res = await app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(goldenImage("gray_L.png")) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().caption, expectedCaptions("greedy_default__gray_L")[0]);
      // Bad input is still refused on the API node, before any job is queued.
      const bad = await app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(Buffer.from("not an image")) });
      assert.equal(bad.statusCode, 415);
      assert.equal((await app.inject({ method: "POST", url: "/v1/captions", payload: { model: "nope", images: [goldenImage("gray_L.png").toString("base64")] } })).statusCode, 404);
      // What only the worker's model can check comes back as the client's 400, not a worker failure (502).
      const roomless = await app.inject({ method: "POST", url: "/v1/captions", payload: { images: [goldenImage("gray_L.png").toString("base64")], options: { prompt: "a picture of", max_length: 3 } } });
      assert.equal(roomless.statusCode, 400, roomless.body);
      assert.equal(roomless.json().error.code, "option_out_of_range");
      assert.match(roomless.json().error.message, /max_length/);
    } finally {
      await app.close();
      await workerQueue.close();
      await captioner.release();
    }
  } finally {
    redis.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => (socket.end(), resolve(true)));
    socket.on("error", () => resolve(false));
  });
}
