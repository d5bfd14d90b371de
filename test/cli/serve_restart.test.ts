// Nothing is lost across a restart: caption jobs queued when `captioner serve` receives SIGTERM stay
// in the SQLite queue and are finished by the next start, with the captions transformers gives.
import test from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { blipCaseDir, readExpected, repoRoot } from "../helpers/golden.js";

const dir = blipCaseDir("base_like_32px");

function serve(home: string): Promise<{ url: string; child: ChildProcess }> {
  const args = [path.join(repoRoot, "dist/src/cli/main.js"), "serve", "--host", "127.0.0.1", "--port", "0", "--model", `blip=${dir}`];
  const child = spawn(process.execPath, args, { env: { ...process.env, CAPTIONER_HOME: home, HF_HUB_OFFLINE: "1" } });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`serve did not start:\n${log}`))), 20_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) (clearTimeout(timer), resolve({ url: m[1]!, child }));
    });
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  child.kill("SIGTERM");
  return exited;
}

interface JobView {
  id: string;
  state: string;
  result: { captions: { text: string }[][] } | null;
}

test("queued caption jobs survive a graceful restart and finish afterwards", { timeout: 90_000 }, async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-restart-"));
  const expected = readExpected("base_like_32px");
  const names = ["rgb_square", "gray_L", "palette_P", "tiny_7x5"];
  const images = names.map((n) => fs.readFileSync(path.join(dir, expected.images.find((i: { name: string }) => i.name === n).file)).toString("base64"));
  const golden = names.map((n) => expected.generation.find((g: { name: string }) => g.name === `greedy_default__${n}` || (n === "rgb_square" && g.name === "greedy_default")).decoded.fast_skip_special[0]);

  const first = await serve(home);
  const body = JSON.stringify({ images: Array.from({ length: 60 }, () => images).flat() });
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const res = await fetch(`${first.url}/v1/jobs/captions`, { method: "POST", body, headers: { "content-type": "application/json" } });
    assert.equal(res.status, 202);
    ids.push(((await res.json()) as JobView).id);
  }
  assert.equal(await stop(first.child), 0);

  const second = await serve(home);
  try {
    const states = await Promise.all(ids.map((id) => fetch(`${second.url}/v1/jobs/${id}`).then((r) => r.json() as Promise<JobView>)));
    assert.ok(states.some((j) => j.state !== "done"), "some jobs were still waiting at the restart (otherwise the test proves nothing)");
    for (const id of ids) {
      let job: JobView;
      for (let i = 0; ; i++) {
        job = (await (await fetch(`${second.url}/v1/jobs/${id}`)).json()) as JobView;
        if (job.state === "done" || job.state === "failed" || i > 600) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(job.state, "done", `job ${id}: ${JSON.stringify({ ...job, result: undefined })}`);
      assert.equal(job.result!.captions.length, 240);
      job.result!.captions.forEach((c, k) => assert.equal(c[0]!.text, golden[k % 4]));
    }
  } finally {
    await stop(second.child);
  }
});
