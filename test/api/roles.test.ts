// The role matrix: every route × {no keys configured, no key, user key, contributor key, admin key} → status.
// With no keys in the store captioning is open and admin routes answer 403; once keys exist, user
// routes need any key (401 without), contributor routes a contributor or admin key, admin routes an admin key.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CAPTION_JOB } from "../../src/serving/jobs/index.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { zipSync } from "fflate";
import { goldenImage, multipart, pocUpload, testApp } from "../helpers/app.js";

type Column = "open" | "none" | "user" | "contributor" | "admin";
const COLUMNS: Column[] = ["open", "none", "user", "contributor", "admin"];

interface Row {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  url: string;
  /** Expected status per column: open = no keys configured (no key sent), then keys configured. */
  expect: [number, number, number, number, number];
  /** The JSON body, for routes whose body the request function below does not know. */
  payload?: object;
}

const png = goldenImage("rgb_square.png");
const jsonCaption = { images: [png.toString("base64")] };
const chat = { model: "blip", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } }] }] };

//                                                                    open none user contributor admin
const MATRIX: Row[] = [
  { method: "GET", url: "/healthz", expect: [200, 200, 200, 200, 200] },
  { method: "GET", url: "/readyz", expect: [200, 200, 200, 200, 200] },
  { method: "GET", url: "/metrics", expect: [200, 200, 200, 200, 200] },
  { method: "GET", url: "/openapi.json", expect: [200, 200, 200, 200, 200] },
  { method: "GET", url: "/docs", expect: [200, 200, 200, 200, 200] },
  { method: "POST", url: "/image2caption/blip", expect: [200, 401, 200, 200, 200] },
  { method: "POST", url: "/v1/captions", expect: [200, 401, 200, 200, 200] },
  { method: "POST", url: "/v1/chat/completions", expect: [200, 401, 200, 200, 200] },
  { method: "GET", url: "/v1/models", expect: [200, 401, 200, 200, 200] },
  { method: "POST", url: "/v1/jobs/captions", expect: [202, 401, 202, 202, 202] },
  // The matrix's job is submitted while no keys exist: once keys exist, only admins read it (issue 15).
  { method: "GET", url: "/v1/jobs/{id}", expect: [200, 401, 404, 404, 200] },
  { method: "POST", url: "/v1/admin/models/{name}/reload", expect: [403, 401, 403, 403, 202] },
  { method: "GET", url: "/v1/admin/jobs", expect: [403, 401, 403, 403, 200] },
  { method: "POST", url: "/v1/datasets", expect: [403, 401, 403, 403, 201] },
  { method: "GET", url: "/v1/datasets", expect: [403, 401, 403, 200, 200] },
  { method: "POST", url: "/v1/datasets/{name}/items", expect: [403, 401, 403, 201, 201] },
  { method: "GET", url: "/v1/datasets/{name}/items", expect: [403, 401, 403, 200, 200] },
  { method: "GET", url: "/v1/datasets/{name}/items/{id}/image", expect: [403, 401, 403, 200, 200] },
  { method: "PATCH", url: "/v1/datasets/{name}/items/{id}", expect: [403, 401, 403, 200, 200] },
  { method: "POST", url: "/v1/datasets/{name}/items/{id}/review", expect: [403, 401, 403, 200, 200], payload: { action: "accept" } }, // before DELETE: the item must exist
  { method: "DELETE", url: "/v1/datasets/{name}/items/{id}", expect: [403, 401, 403, 403, 204] },
  { method: "POST", url: "/v1/admin/jobs/draft", expect: [403, 401, 403, 403, 202], payload: { dataset: "pets", overwrite: true } },
  { method: "POST", url: "/v1/admin/jobs/eval", expect: [403, 401, 403, 403, 202], payload: { dataset: "pets", split: "train", reviewed_only: false } },
  // {id} is a caption job: an admin gets past the role check to "no eval job" (404).
  { method: "GET", url: "/v1/admin/jobs/{id}/report", expect: [403, 401, 403, 403, 404] },
  { method: "POST", url: "/v1/datasets/{name}/import", expect: [403, 401, 403, 403, 202] },
  { method: "GET", url: "/v1/datasets/{name}/export", expect: [403, 401, 403, 403, 200] },
  // 409 for whoever may see the job (it has finished by then; test/api/training.test.ts cancels a running
  // one); once keys exist, the job submitted without keys is the admins' alone: 404 for the others.
  { method: "POST", url: "/v1/jobs/{id}/cancel", expect: [409, 401, 404, 404, 409] },
  // reviewed_only false: the draft row above may have made the items unreviewed drafts by then.
  { method: "POST", url: "/v1/admin/jobs/train", expect: [403, 401, 403, 403, 202], payload: { dataset: "pets", model: "blip", reviewed_only: false, settings: { max_steps: 1, max_new_tokens: 2 } } },
  { method: "GET", url: "/v1/admin/models/{name}/versions", expect: [403, 401, 403, 403, 200] },
  // 404 for the admin: the matrix's server has no version to promote (test/api/training.test.ts promotes).
  { method: "POST", url: "/v1/admin/models/{name}/promote", expect: [403, 401, 403, 403, 404], payload: { version: "v_000000000000" } },
  // The GET /v1/jobs/{id} rule: the matrix job has no owner, so only admins see it once keys exist.
  { method: "GET", url: "/v1/jobs/{id}/events", expect: [200, 401, 404, 404, 200] },
];

test("role matrix: every route × every role, with and without keys configured", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-roles-"));
  const { app, services } = await testApp({ dataDir });
  try {
    const job = await services.queue.enqueue(CAPTION_JOB, { model: "blip", images: [png.toString("base64")], options: {} });
    services.datasets.createDataset("pets");
    const item = await services.datasets.addItem("pets", { image: png, split: "train", captions: ["a red square"] });
    // A train job needs captioned train and validation items (the matrix deletes `item` before it trains).
    await services.datasets.addItem("pets", { image: png, split: "train", captions: ["a red square"] });
    await services.datasets.addItem("pets", { image: png, split: "validation", captions: ["a red square"] });
    const request = (row: Row, headers: Record<string, string>) => {
      const dataset = row.url.startsWith("/v1/datasets");
      const url = row.url.replace("{id}", dataset ? item.id : job.id).replace("{name}", dataset ? "pets" : "blip");
      if (row.url === "/v1/datasets/{name}/import") {
        const upload = multipart([{ name: "file", file: { data: zipSync({ "a.png": png }), filename: "a.zip" } }]);
        return app.inject({ method: row.method, url, headers: { ...headers, ...upload.headers }, payload: upload.payload });
      }
      if (row.url === "/image2caption/blip" || (row.method === "POST" && row.url === "/v1/datasets/{name}/items")) {
        const upload = dataset ? multipart([{ name: "image", file: { data: png } }, { name: "caption", value: "a red square" }]) : pocUpload(png);
        return app.inject({ method: row.method, url, headers: { ...headers, ...upload.headers }, payload: upload.payload });
      }
      if (row.payload) return app.inject({ method: row.method, url, headers, payload: row.payload });
      if (dataset && row.method !== "GET" && row.method !== "DELETE") {
        return app.inject({ method: row.method, url, headers, payload: row.method === "PATCH" ? { reviewed: true } : { name: "new-set" } });
      }
      const noBody = ["/v1/admin/models/{name}/reload", "/v1/jobs/{id}/cancel"];
      const payload = row.url === "/v1/chat/completions" ? chat : row.method === "POST" && !noBody.includes(row.url) ? jsonCaption : undefined;
      return app.inject({ method: row.method, url, headers, ...(payload ? { payload } : {}) });
    };

    // Every documented route is in the matrix (the docs page is served by the UI plugin, not documented).
    const documented = Object.entries((await app.inject({ method: "GET", url: "/openapi.json" })).json().paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    assert.deepEqual(documented.sort(), MATRIX.filter((r) => r.url !== "/docs").map((r) => `${r.method} ${r.url}`).sort());

    const keys: Record<Column, Record<string, string>> = { open: {}, none: {}, user: {}, contributor: {}, admin: {} };
    const failures: string[] = [];
    for (const column of COLUMNS) {
      if (column === "none") {
        keys.user = { authorization: `Bearer ${services.keys.create("user", "test user").key}` };
        keys.contributor = { authorization: `Bearer ${services.keys.create("contributor", "test contributor").key}` };
        keys.admin = { "x-api-key": services.keys.create("admin", "test admin").key };
      }
      for (const row of MATRIX) {
        const res = await request(row, keys[column]);
        const expected = row.expect[COLUMNS.indexOf(column)];
        if (res.statusCode !== expected) failures.push(`${row.method} ${row.url} [${column}]: ${res.statusCode} (expected ${expected}) ${res.body.slice(0, 200)}`);
        if (res.statusCode >= 400) assert.ok(res.json().error?.code && res.json().error?.message, `${row.url}: error shape`);
      }
    }
    assert.deepEqual(failures, []);
  } finally {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("auth errors say what to do; a bogus key is refused once keys exist", async () => {
  const { app, services } = await testApp();
  try {
    let res = await app.inject({ method: "POST", url: "/v1/admin/models/blip/reload" });
    assert.equal(res.statusCode, 403);
    assert.match(res.json().error.message, /no admin keys configured; create one with `captioner keys create --role admin`/);
    // No keys: captioning is open whatever the headers say.
    res = await app.inject({ method: "GET", url: "/v1/models", headers: { authorization: "Bearer cap_not-a-key" } });
    assert.equal(res.statusCode, 200);

    const user = services.keys.create("user").key;
    res = await app.inject({ method: "GET", url: "/v1/models" });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers["www-authenticate"], 'Bearer realm="captioner"');
    assert.match(res.json().error.message, /Authorization: Bearer <key>.*X-API-Key/);
    res = await app.inject({ method: "GET", url: "/v1/models", headers: { authorization: "Bearer cap_not-a-key" } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, "invalid_api_key");
    res = await app.inject({ method: "GET", url: "/v1/admin/jobs", headers: { "x-api-key": user } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error.code, "admin_only");

    // A user cannot read admin jobs through /v1/jobs/:id; an admin can.
    const admin = services.keys.create("admin").key;
    const reload = await app.inject({ method: "POST", url: "/v1/admin/models/blip/reload", headers: { authorization: `Bearer ${admin}` } });
    assert.equal(reload.statusCode, 202);
    const id = reload.json().id;
    assert.equal((await app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: { "x-api-key": user } })).statusCode, 404);
    assert.equal((await app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: { "x-api-key": admin } })).statusCode, 200);

    // A caption job is readable by the key that submitted it (and admins), not by another user.
    const other = services.keys.create("user").key;
    const submitted = await app.inject({ method: "POST", url: "/v1/jobs/captions", headers: { "x-api-key": user }, payload: { images: [goldenImage("gray_L.png").toString("base64")] } });
    assert.equal(submitted.statusCode, 202);
    const jobUrl = `/v1/jobs/${submitted.json().id}`;
    assert.equal((await app.inject({ method: "GET", url: jobUrl, headers: { "x-api-key": user } })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: jobUrl, headers: { "x-api-key": other } })).statusCode, 404);
    assert.equal((await app.inject({ method: "GET", url: jobUrl, headers: { "x-api-key": admin } })).statusCode, 200);

    // A revoked key stops working at once.
    const info = services.keys.list().find((k) => k.role === "user")!;
    services.keys.revoke(info.id);
    assert.equal((await app.inject({ method: "GET", url: "/v1/models", headers: { "x-api-key": user } })).statusCode, 401);
  } finally {
    await app.close();
  }
});
