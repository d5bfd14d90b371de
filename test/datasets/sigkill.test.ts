// An acknowledged dataset item survives SIGKILL: `captioner serve` is killed the moment an upload's
// 201 arrives (other uploads still in flight), restarted on the same data dir, and every item it
// acknowledged is there with its image byte for byte.
import test from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { blipCaseDir, repoRoot } from "../helpers/golden.js";
import { serveProcess } from "../helpers/serve_process.js";
import { multipart } from "../helpers/app.js";

const model = blipCaseDir("base_like_32px");
const cli = path.join(repoRoot, "dist/src/cli/main.js");


test("items acknowledged before a SIGKILL are there after the restart, byte for byte", { timeout: 120_000 }, async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-sigkill-"));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, "keys", "create", "--role", "admin"], { env: { ...process.env, CAPTIONER_HOME: home } });
    const headers = { authorization: `Bearer ${stdout.trim()}` };
    const images = fs.readdirSync(path.join(model, "images")).filter((f) => /\.(png|jpe?g)$/.test(f) && !f.startsWith("large")).map((f) => fs.readFileSync(path.join(model, "images", f)));
    assert.ok(images.length >= 4);

    const first = await serveProcess(home);
    const exited = new Promise((r) => first.child.once("exit", r));
    let res = await fetch(`${first.url}/v1/datasets`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ name: "pets" }) });
    assert.equal(res.status, 201);

    // Every upload in flight at once; the server dies as soon as the first is acknowledged.
    const acknowledged = new Map<string, Buffer>();
    let killed = false;
    const uploads = images.map(async (image, i) => {
      const body = multipart([{ name: "image", file: { data: image, filename: `../../${i}.png` } }, { name: "caption", value: `caption ${i}` }]);
      try {
        const r = await fetch(`${first.url}/v1/datasets/pets/items`, { method: "POST", headers: { ...headers, ...body.headers }, body: body.payload });
        if (r.status !== 201) return;
        const item = (await r.json()) as { id: string };
        acknowledged.set(item.id, image);
        if (!killed) (killed = true, first.child.kill("SIGKILL"));
      } catch {
        // the connection died with the server: not acknowledged
      }
    });
    await Promise.all(uploads);
    await exited;
    assert.ok(killed && acknowledged.size >= 1);

    const second = await serveProcess(home);
    try {
      res = await fetch(`${second.url}/v1/datasets/pets/items?limit=100`, { headers });
      assert.equal(res.status, 200);
      const stored = ((await res.json()) as { items: { id: string; captions: string[] }[] }).items;
      for (const id of acknowledged.keys()) assert.ok(stored.some((s) => s.id === id), `acknowledged item ${id} is missing after the restart`);
      // Every stored item (acknowledged or committed just before the kill) has its whole image.
      for (const item of stored) {
        const r = await fetch(`${second.url}/v1/datasets/pets/items/${item.id}/image`, { headers });
        assert.equal(r.status, 200);
        const bytes = Buffer.from(await r.arrayBuffer());
        const index = Number(item.captions[0]!.split(" ")[1]);
        assert.ok(bytes.equals(images[index]!), `item ${item.id}: the bytes differ from the upload`);
        if (acknowledged.has(item.id)) assert.ok(bytes.equals(acknowledged.get(item.id)!));
      }
    } finally {
      const gone = new Promise((r) => second.child.once("exit", r));
      second.child.kill("SIGTERM");
      await gone;
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
