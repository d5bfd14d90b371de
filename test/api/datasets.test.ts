// The dataset routes over app.inject(): creating datasets, adding items as a contributor, paging,
// images back byte for byte, edits and reviews, deletes; the image checks and the error shape.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { FastifyInstance } from "fastify";
import type { Services } from "../../src/api/services.js";
import { goldenImage, multipart, type Part, testApp } from "../helpers/app.js";

const png = goldenImage("rgb_square.png");
const jpeg = goldenImage("rgb_nonsquare_jpeg.jpg");
const large = goldenImage("large_1000x700_jpeg.jpg");

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe("dataset routes", () => {
  let app: FastifyInstance;
  let services: Services;
  let dataDir: string;
  let admin: Record<string, string>;
  let contributor: Record<string, string>;
  let user: Record<string, string>;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-datasets-api-"));
    ({ app, services } = await testApp({ dataDir, load: false, limits: { maxUploadBytes: 200_000, maxPixels: 500_000 } }));
    admin = { authorization: `Bearer ${services.keys.create("admin").key}` };
    contributor = { "x-api-key": services.keys.create("contributor").key };
    user = { "x-api-key": services.keys.create("user").key };
  });
  after(async () => {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const upload = (name: string, parts: Part[], headers = contributor) => {
    const body = multipart(parts);
    return app.inject({ method: "POST", url: `/v1/datasets/${name}/items`, headers: { ...headers, ...body.headers }, payload: body.payload });
  };
  const errorOf = (res: { statusCode: number; json(): { error: { code: string; message: string } } }) => [res.statusCode, res.json().error.code];

  test("an admin creates datasets; bad and duplicate names are refused; contributors list them", async () => {
    let res = await app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { name: "pets" } });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().name, "pets");
    assert.equal(res.json().items, 0);
    res = await app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { name: "pets" } });
    assert.deepEqual(errorOf(res), [409, "dataset_exists"]);
    for (const name of ["../x", "", "a b", "x".repeat(65)]) {
      res = await app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { name } });
      assert.deepEqual(errorOf(res), [400, "invalid_request"], name);
      assert.match(res.json().error.message, /name/);
    }
    res = await app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { title: "x" } });
    assert.equal(res.statusCode, 400);
    res = await app.inject({ method: "POST", url: "/v1/datasets", headers: contributor, payload: { name: "mine" } });
    assert.deepEqual(errorOf(res), [403, "admin_only"]);
    res = await app.inject({ method: "GET", url: "/v1/datasets", headers: contributor });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().datasets.map((d: { name: string }) => d.name), ["pets"]);
  });

  test("a contributor adds items with 0..n captions; the image comes back byte for byte; uploaded names never reach the disk", async () => {
    let res = await upload("pets", [
      { name: "image", file: { data: png, filename: "../../../../etc/passwd", type: "image/png" } },
      { name: "caption", value: "a red square" },
      { name: "caption", value: "red" },
      { name: "split", value: "validation" },
    ]);
    assert.equal(res.statusCode, 201, res.body);
    const item = res.json();
    assert.deepEqual([item.split, item.captions, item.reviewed, item.contentType, item.bytes], ["validation", ["a red square", "red"], false, "image/png", png.length]);
    assert.equal(res.headers.location, `/v1/datasets/pets/items/${item.id}`);

    res = await upload("pets", [{ name: "image", file: { data: jpeg, filename: "photo.jpg" } }]);
    assert.equal(res.statusCode, 201);
    assert.deepEqual([res.json().split, res.json().captions], ["train", []]);

    res = await upload("pets", [{ name: "image", file: { data: png } }, { name: "caption", value: "one" }]);
    assert.deepEqual(res.json().captions, ["one"]);

    res = await app.inject({ method: "GET", url: `/v1/datasets/pets/items/${item.id}/image`, headers: contributor });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-type"], "image/png");
    assert.ok(res.rawPayload.equals(png));

    // Only digests, under datasets/images/; the temporary folder is empty.
    const files = filesUnder(path.join(dataDir, "datasets"));
    assert.ok(files.length === 2 && files.every((f) => /^images\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(f)), files.join(", "));
    assert.ok(!fs.existsSync(path.join(dataDir, "etc")));
  });

  test("the image is checked: not an image 415, damaged 400, too large 413, missing 400, unknown dataset 404", async () => {
    assert.deepEqual(errorOf(await upload("pets", [{ name: "image", file: { data: Buffer.from("just text, not an image") } }])), [415, "unsupported_image_format"]);
    assert.deepEqual(errorOf(await upload("pets", [{ name: "image", file: { data: png.subarray(0, png.length - 30) } }])), [400, "invalid_image"]);
    assert.deepEqual(errorOf(await upload("pets", [{ name: "image", file: { data: Buffer.alloc(300_000, 1) } }])), [413, "image_too_large"]);
    assert.deepEqual(errorOf(await upload("pets", [{ name: "image", file: { data: large } }])), [413, "too_many_pixels"]);
    assert.deepEqual(errorOf(await upload("pets", [{ name: "caption", value: "no image" }])), [400, "missing_image_field"]);
    assert.deepEqual(errorOf(await upload("pets", [{ name: "image", file: { data: png } }, { name: "image", file: { data: jpeg } }])), [400, "one_image_per_item"]);
    assert.deepEqual(errorOf(await upload("pets", [{ name: "image", file: { data: png } }, { name: "split", value: "dev" }])), [400, "invalid_request"]);
    assert.deepEqual(errorOf(await upload("nope", [{ name: "image", file: { data: png } }])), [404, "unknown_dataset"]);
    const res = await app.inject({ method: "POST", url: "/v1/datasets/pets/items", headers: contributor, payload: { image: "x" } });
    assert.equal(res.statusCode, 415);
  });

  test("pages by cursor with split and reviewed filters; PATCH edits, reviews and moves; DELETE is for admins", async () => {
    await app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { name: "paged" } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await upload("paged", [{ name: "image", file: { data: i % 2 ? png : jpeg } }, { name: "caption", value: `c${i}` }, { name: "split", value: i < 4 ? "train" : "test" }]);
      ids.push(res.json().id);
    }
    const seen: string[] = [];
    let url = "/v1/datasets/paged/items?limit=2";
    for (;;) {
      const res = await app.inject({ method: "GET", url, headers: contributor });
      assert.equal(res.statusCode, 200);
      seen.push(...res.json().items.map((i: { id: string }) => i.id));
      if (res.json().next === null) break;
      url = `/v1/datasets/paged/items?limit=2&cursor=${encodeURIComponent(res.json().next)}`;
    }
    assert.deepEqual(seen, ids);

    let res = await app.inject({ method: "PATCH", url: `/v1/datasets/paged/items/${ids[1]}`, headers: contributor, payload: { captions: ["a red square"], reviewed: true } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual([res.json().captions, res.json().reviewed, res.json().split], [["a red square"], true, "train"]);
    res = await app.inject({ method: "PATCH", url: `/v1/datasets/paged/items/${ids[2]}`, headers: admin, payload: { split: "validation" } });
    assert.equal(res.json().split, "validation");
    const list = async (query: string) => (await app.inject({ method: "GET", url: `/v1/datasets/paged/items?${query}`, headers: contributor })).json().items.map((i: { id: string }) => i.id);
    assert.deepEqual(await list("reviewed=true"), [ids[1]]);
    assert.deepEqual(await list("reviewed=false&split=train"), [ids[0], ids[3]]);
    assert.deepEqual(await list("split=validation"), [ids[2]]);

    assert.deepEqual(errorOf(await app.inject({ method: "GET", url: "/v1/datasets/paged/items?cursor=bogus", headers: contributor })), [400, "invalid_cursor"]);
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url: "/v1/datasets/paged/items?limit=0", headers: contributor })), [400, "invalid_request"]);
    assert.deepEqual(errorOf(await app.inject({ method: "PATCH", url: `/v1/datasets/paged/items/${ids[0]}`, headers: contributor, payload: {} })), [400, "invalid_request"]);
    assert.deepEqual(errorOf(await app.inject({ method: "PATCH", url: `/v1/datasets/paged/items/${ids[0]}`, headers: contributor, payload: { caption: "typo" } })), [400, "invalid_request"]);
    assert.deepEqual(errorOf(await app.inject({ method: "PATCH", url: "/v1/datasets/paged/items/nope", headers: contributor, payload: { reviewed: true } })), [404, "unknown_item"]);
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url: `/v1/datasets/pets/items/${ids[0]}/image`, headers: contributor })), [404, "unknown_item"]);
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url: "/v1/datasets/nope/items", headers: contributor })), [404, "unknown_dataset"]);

    assert.deepEqual(errorOf(await app.inject({ method: "DELETE", url: `/v1/datasets/paged/items/${ids[0]}`, headers: contributor })), [403, "admin_only"]);
    res = await app.inject({ method: "DELETE", url: `/v1/datasets/paged/items/${ids[0]}`, headers: admin });
    assert.equal(res.statusCode, 204);
    assert.deepEqual(errorOf(await app.inject({ method: "DELETE", url: `/v1/datasets/paged/items/${ids[0]}`, headers: admin })), [404, "unknown_item"]);
    assert.equal((await list("limit=10")).length, 4);
  });

  test("anonymous clients get 401, users 403, on every dataset route", async () => {
    const routes: [string, string][] = [
      ["POST", "/v1/datasets"], ["GET", "/v1/datasets"], ["POST", "/v1/datasets/pets/items"], ["GET", "/v1/datasets/pets/items"],
      ["GET", "/v1/datasets/pets/items/x/image"], ["PATCH", "/v1/datasets/pets/items/x"], ["DELETE", "/v1/datasets/pets/items/x"],
    ];
    for (const [method, url] of routes) {
      const anonymous = await app.inject({ method: method as "GET", url });
      assert.equal(anonymous.statusCode, 401, `${method} ${url}`);
      const asUser = await app.inject({ method: method as "GET", url, headers: user });
      assert.equal(asUser.statusCode, 403, `${method} ${url}`);
      assert.match(asUser.json().error.message, /needs (an admin|a contributor or admin) key; your key has the user role/);
    }
  });
});
