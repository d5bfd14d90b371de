// `captioner serve` with no model flags serves the default hub model: at start-up it downloads
// Salesforce/blip-image-captioning-base (here: a golden checkpoint on a fake hub on 127.0.0.1) into
// the HF cache, and a second start with HF_HUB_OFFLINE=1 and the hub gone loads it from the cache.
import test from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FakeHub, repoFromFolder } from "../helpers/fake_hub.js";
import { blipCaseDir, readExpected, repoRoot } from "../helpers/golden.js";

const CASE = "legacy_files_24px"; // only pytorch_model.bin, like the real base repo

/** Starts `captioner serve --port 0`; resolves with its URL once it listens. */
function serve(env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess; log: () => string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, "dist/src/cli/main.js"), "serve", "--host", "127.0.0.1", "--port", "0"], { env: { ...process.env, ...env } });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start:\n${log}`));
    }, 20_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, log: () => log });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}:\n${log}`)));
  });
}

async function waitReady(server: { url: string; log: () => string }): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`${server.url}/readyz`)).status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the model never became ready:\n${server.log()}`);
}

async function pocCaption(url: string, image: Buffer): Promise<string> {
  const form = new FormData();
  form.append("image", new Blob([image], { type: "image/png" }), "example.png");
  const res = await fetch(`${url}/image2caption/blip`, { method: "POST", body: form, headers: { accept: "application/json" } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { caption: string }).caption;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

test("the default model is downloaded into the HF cache at start-up, then loads offline", { timeout: 60_000 }, async () => {
  const dir = blipCaseDir(CASE);
  const hub = await FakeHub.start({ "Salesforce/blip-image-captioning-base": repoFromFolder(dir, { exclude: ["model.safetensors", "expected.json"], lfs: ["pytorch_model.bin"] }) });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-serve-hub-"));
  const env = { HF_HOME: path.join(home, "hf"), HF_ENDPOINT: hub.url, CAPTIONER_HOME: path.join(home, "data"), HF_TOKEN: "" };
  const image = fs.readFileSync(path.join(dir, "images/rgb_square.png"));
  const expected = readExpected(CASE).generation.find((g: { name: string }) => g.name === "greedy_default").decoded.fast_skip_special[0];

  const online = await serve(env);
  try {
    await waitReady(online);
    assert.equal(await pocCaption(online.url, image), expected);
  } finally {
    await stop(online.child);
  }
  const snapshots = path.join(home, "hf/hub/models--Salesforce--blip-image-captioning-base/snapshots");
  assert.equal(fs.readdirSync(snapshots).length, 1);
  assert.ok(fs.existsSync(path.join(snapshots, fs.readdirSync(snapshots)[0]!, "pytorch_model.bin")));
  await hub.close();

  const offline = await serve({ ...env, HF_HUB_OFFLINE: "1" });
  try {
    await waitReady(offline);
    assert.equal(await pocCaption(offline.url, image), expected);
  } finally {
    await stop(offline.child);
  }
});
