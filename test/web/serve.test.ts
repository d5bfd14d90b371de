// Serving the built page (no browser): GET / is public and answers the page, its assets are cached
// for good, and nothing else changes — /docs, /openapi.json, the JSON 404 and the API's key rules.
import test, { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import { webRoutes } from "../../src/api/routes/web.js";
import { PAGE_DIR, pageBuilt } from "../../src/web/assets.js";
import { testApp, type TestApp } from "../helpers/app.js";

describe("the public page is served at /", () => {
  let t: TestApp;
  before(async () => {
    assert.ok(pageBuilt(), `the page is not built in ${PAGE_DIR}: run \`npm run build\` (npm test does)`);
    t = await testApp({ load: false });
    t.services.keys.create("user", "page test"); // keys configured: the page must stay public anyway
  });
  after(() => t.app.close());

  test("GET / is the page, public, revalidated, with a same-origin content security policy", async () => {
    const res = await t.app.inject({ url: "/" });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^text\/html/);
    assert.match(res.body, /<title>captioner<\/title>/);
    assert.equal(res.headers["cache-control"], "no-cache");
    assert.match(res.headers["content-security-policy"] as string, /default-src 'self'/);
    assert.doesNotMatch(res.body, /https?:\/\//, "the page loads nothing from another origin (no CDN)");
    assert.equal((await t.app.inject({ method: "HEAD", url: "/" })).statusCode, 200);
    assert.equal((await t.app.inject({ url: "/index.html" })).statusCode, 200);
  });

  test("GET /admin is the admin console: public page, same headers; its data needs an admin key", async () => {
    const res = await t.app.inject({ url: "/admin" });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"] as string, /^text\/html/);
    assert.match(res.body, /<title>captioner admin<\/title>/);
    assert.equal(res.headers["cache-control"], "no-cache");
    assert.equal(res.headers["content-security-policy"], (await t.app.inject({ url: "/" })).headers["content-security-policy"]);
    assert.doesNotMatch(res.body, /https?:\/\//, "the console loads nothing from another origin (no CDN)");
    for (const asset of [...res.body.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]!)) assert.equal((await t.app.inject({ url: `/${asset}` })).statusCode, 200, asset);
    assert.equal((await t.app.inject({ url: "/admin/" })).statusCode, 404, "one path: relative URLs resolve against the root");
    assert.equal((await t.app.inject({ url: "/v1/datasets" })).statusCode, 401);
  });

  test("the page's hashed assets are served and cached as immutable", async () => {
    const html = (await t.app.inject({ url: "/" })).body;
    const assets = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith(".js")) && assets.some((a) => a.endsWith(".css")), `assets in index.html: ${assets.join(", ")}`);
    for (const asset of assets) {
      const res = await t.app.inject({ url: `/${asset}` });
      assert.equal(res.statusCode, 200, asset);
      assert.match(res.headers["cache-control"] as string, /immutable/, asset);
    }
  });

  test("other paths keep the JSON 404, /docs and /openapi.json; the API keeps its key rules", async () => {
    for (const url of ["/nope", "/v1/nope", "/assets/", "/assets/missing.js", "/index.htm", "/../package.json"]) {
      const res = await t.app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, "not_found", url);
    }
    assert.equal((await t.app.inject({ url: "/docs" })).statusCode, 200);
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    assert.deepEqual(Object.keys(doc.paths).filter((p) => p === "/" || p.startsWith("/assets")), [], "the page's routes stay out of the API document");
    assert.equal((await t.app.inject({ url: "/v1/models" })).statusCode, 401);
  });
});

test("without a built page, GET / says how to build it (JSON 404) and the API still works", async () => {
  const app = Fastify();
  app.decorate("authorize", () => async () => {});
  await app.register(webRoutes, { dir: "/nonexistent/captioner-page" });
  for (const url of ["/", "/admin"]) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 404, url);
    assert.match(res.body, /npm run build/, url);
  }
  await app.close();
});
