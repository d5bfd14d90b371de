// The proof of concept's contract: POST /image2caption/blip with multipart field `image` answers
// {"caption": "..."} — through app.inject(), a real listening server (Node's fetch + FormData), and
// a spawned `captioner serve` process answering the seed's curl command, then stopping gracefully.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { startServer } from "../../src/api/server.js";
import { expectedCaptions, goldenImage, goldenModel, multipart, pocUpload, testApp, testConfig } from "../helpers/app.js";
import { blip2CaseDir, blipCaseDir, readBlip2Expected, repoRoot } from "../helpers/golden.js";

const IMAGES = ["rgb_square.png", "rgb_nonsquare_jpeg.jpg", "gray_L.png", "palette_P.png"];
const goldenCall = (file: string) => (file === "rgb_square.png" ? "greedy_default" : `greedy_default__${file.replace(/\.\w+$/, "")}`);

test("PoC route: each golden image gets transformers' caption as {caption}", async () => {
  const { app } = await testApp();
  try {
    for (const file of IMAGES) {
      const upload = pocUpload(goldenImage(file));
      const res = await app.inject({ method: "POST", url: "/image2caption/blip", headers: { accept: "application/json", ...upload.headers }, payload: upload.payload });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.headers["content-type"] as string, /^application\/json/);
      assert.deepEqual(res.json(), { caption: expectedCaptions(goldenCall(file))[0], model: "blip" });
    }
  } finally {
    await app.close();
  }
});

test("PoC route uses the model named blip, else the first configured one", async () => {
  const other = blipCaseDir("odd_36px_patch8");
  const cases = [
    { models: [`first=${other}`, `blip=${goldenModel}`], expected: "blip" },
    { models: [`mine=${goldenModel}`, `second=${other}`], expected: "mine" },
  ];
  for (const { models, expected } of cases) {
    const { app } = await testApp({ models });
    try {
      const upload = pocUpload(goldenImage("rgb_square.png"));
      const res = await app.inject({ method: "POST", url: "/image2caption/blip", ...upload });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { caption: expectedCaptions("greedy_default")[0], model: expected });
    } finally {
      await app.close();
    }
  }
});

test("a configured model named blip2 (a BLIP-2 checkpoint) has POST /image2caption/blip2; /image2caption/blip stays the default", async () => {
  const blip2 = blip2CaseDir("opt_28px_q8");
  const { app } = await testApp({ models: [`blip=${goldenModel}`, `blip2=${blip2}`] });
  try {
    const upload = pocUpload(fs.readFileSync(path.join(blip2, "images", "rgb_square.png")), "x.png", "image/png");
    const res = await app.inject({ method: "POST", url: "/image2caption/blip2", ...upload });
    assert.equal(res.statusCode, 200, res.body);
    const call = readBlip2Expected("opt_28px_q8").generation.find((g: { name: string }) => g.name === "greedy_default");
    // People read the stripped caption (BLIP-2's model card: `.strip()`): no leading space, no newline stop token.
    assert.notEqual(call.decoded.fast_skip_special[0], call.decoded.fast_skip_special[0].trim(), "the golden text has surrounding whitespace to strip");
    assert.deepEqual(res.json(), { caption: call.decoded.fast_skip_special[0].trim(), model: "blip2" });
    const viaDefault = await app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(goldenImage("rgb_square.png")) });
    assert.deepEqual(viaDefault.json(), { caption: expectedCaptions("greedy_default")[0], model: "blip" });
    // /v1/captions with options: beam scores, and BLIP-2's length rule (max_length also reserves its bos).
    const beam = readBlip2Expected("opt_28px_q8").generation.find((g: { name: string }) => g.name === "beam3");
    const image = { name: "image", file: { data: fs.readFileSync(path.join(blip2, "images", "rgb_square.png")), type: "image/png" } };
    const v1 = await app.inject({ method: "POST", url: "/v1/captions", ...multipart([image, { name: "model", value: "blip2" }, { name: "num_beams", value: "3" }, { name: "max_new_tokens", value: "10" }]) });
    assert.equal(v1.statusCode, 200, v1.body);
    const [best] = v1.json().results[0].captions;
    assert.equal(best.text, beam.decoded.fast_skip_special[0].trim());
    assert.ok(Math.abs(best.score - beam.sequences_scores[0]) <= 1e-4);
    const tooShort = await app.inject({ method: "POST", url: "/v1/captions", ...multipart([image, { name: "model", value: "blip2" }, { name: "max_length", value: "2" }]) });
    assert.equal(tooShort.statusCode, 400);
    assert.match(tooShort.json().error.message, /max_length \(2\) must be greater than the prompt's 1 tokens .* reserves/);
    const unknown = await app.inject({ method: "POST", url: "/image2caption/nope", ...upload });
    assert.equal(unknown.statusCode, 404);
    const spec = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
    assert.ok(spec.paths["/image2caption/blip2"]?.post, "the route is in the OpenAPI document");
  } finally {
    await app.close();
  }
});

test("a real listening server answers the PoC request sent with fetch + FormData", async () => {
  const config = { ...testConfig(), host: "127.0.0.1", port: 0, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "captioner-serve-")) };
  const server = await startServer(config);
  try {
    await server.modelsLoaded;
    const form = new FormData();
    form.append("image", new Blob([goldenImage("rgb_nonsquare_jpeg.jpg")], { type: "image/jpeg" }), "example.jpeg");
    const res = await fetch(`${server.url}/image2caption/blip`, { method: "POST", headers: { accept: "application/json" }, body: form });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { caption: expectedCaptions("greedy_default__rgb_nonsquare_jpeg")[0], model: "blip" });
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  } finally {
    await server.close();
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
});

/** Starts `captioner serve` and resolves with its URL once it listens. */
function spawnServe(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, "dist/src/cli/main.js"), "serve", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 20_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, stderr: () => stderr });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server never became ready");
}

test("`captioner serve --model blip=<golden>` answers the seed's curl command and stops gracefully on SIGTERM", async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-home-"));
  // A long batch window keeps the request in flight while SIGTERM arrives: it must still be answered.
  const { child, url, stderr } = await spawnServe(["--host", "127.0.0.1", "--port", "0", "--model", `blip=${goldenModel}`], { CAPTIONER_HOME: home, CAPTIONER_BATCH_WINDOW_MS: "600" });
  try {
    await waitReady(url);
    const image = path.join(goldenModel, "images", "rgb_nonsquare_jpeg.jpg");
    fs.copyFileSync(image, path.join(home, "example.jpeg"));
    const curl = promisify(execFile)("curl", ["-s", "-X", "POST", `${url}/image2caption/blip`, "-H", "accept: application/json", "-F", "image=@example.jpeg;type=image/jpeg"], { cwd: home });
    await new Promise((r) => setTimeout(r, 250));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    const { stdout } = await curl;
    assert.deepEqual(JSON.parse(stdout), { caption: expectedCaptions("greedy_default__rgb_nonsquare_jpeg")[0], model: "blip" });
    assert.equal(await exited, 0, stderr());
    assert.match(stderr(), /SIGTERM: finishing requests in flight/);
    assert.equal(await fetch(`${url}/healthz`).then(() => "answered", () => "refused"), "refused");
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(home, { recursive: true, force: true });
  }
});
