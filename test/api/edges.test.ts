// The edges of the API: framework and parser errors in the one error shape, 503 + Retry-After during
// shutdown, security headers, CORS (off by default, configurable), local model paths for admins
// only, and jobs submitted before any key existed.
import assert from "node:assert/strict";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { buildApp } from "../../src/api/app.js";
import { openServices } from "../../src/api/services.js";
import { loadServerConfig } from "../../src/serving/config.js";
import { goldenImage, goldenModel, multipart, testApp, testConfig } from "../helpers/app.js";

/** The one error shape, with `status` and `code`. */
function assertError(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, code: string): { code: string; message: string } {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  const body = JSON.parse(res.body);
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"]);
  assert.equal(body.error.code, code);
  return body.error;
}

/** Sends raw bytes on a new connection; resolves with everything the server wrote back before closing. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let out = "";
    socket.on("data", (d) => (out += d));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    socket.write(text);
  });
}

/** A raw HTTP/1.1 answer as the fields assertError reads. */
function parseRaw(raw: string) {
  const [head, ...rest] = raw.split("\r\n\r\n");
  const [statusLine, ...lines] = head!.split("\r\n");
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  return { statusCode: Number(statusLine!.split(" ")[1]), headers, body: rest.join("\r\n\r\n") };
}

test("framework and parser errors use the one error shape, with the right status", async () => {
  const t = await testApp({ load: false });
  try {
    const long = assertError(await t.app.inject({ url: `/v1/jobs/${"a".repeat(300)}` }), 414, "path_parameter_too_long");
    assert.match(long.message, /longer than 100 characters/);
    assert.match(assertError(await t.app.inject({ url: "/v1/jobs/%zz" }), 400, "bad_url_encoding").message, /percent-encoding/);
    assert.match(assertError(await t.app.inject({ url: "/v1/jobs/%E0%A4%A" }), 400, "bad_url_encoding").message, /%XX/);
    const json = { method: "POST" as const, url: "/v1/jobs/captions", headers: { "content-type": "application/json" } };
    assertError(await t.app.inject({ ...json, payload: "{\"images\": [" }), 400, "invalid_json");
    assert.match(assertError(await t.app.inject({ ...json, headers: { "content-type": "text/plain" }, payload: "hello" }), 415, "unsupported_content_type").message, /POST \/v1\/jobs\/captions.*application\/json/);
    assertError(await t.app.inject({ ...json, headers: { "content-type": "application/xml" }, payload: "<a/>" }), 415, "unsupported_content_type");

    // Errors Node's HTTP parser raises, on a listening server.
    await t.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = t.app.server.address() as AddressInfo;
    const url = parseRaw(await rawRequest(port, `GET /v1/jobs/${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
    assert.match(assertError(url, 414, "url_too_long").message, /URL is longer/);
    const headers = parseRaw(await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`));
    assertError(headers, 431, "headers_too_large");
    assertError(parseRaw(await rawRequest(port, "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")), 400, "bad_request");
  } finally {
    await t.app.close();
  }
});

test("during shutdown a new request gets 503 in the one shape with Retry-After; the one in flight is answered", async () => {
  // A long batch window keeps the caption request in flight while the server closes.
  const t = await testApp({ limits: { batchWindowMs: 1000 } });
  await t.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = t.app.server.address() as AddressInfo;
  const form = multipart([{ name: "image", file: { data: goldenImage("rgb_square.png"), type: "image/png" } }]);
  const first = `POST /image2caption/blip HTTP/1.1\r\nHost: x\r\nContent-Type: ${form.headers["content-type"]}\r\nContent-Length: ${form.payload.length}\r\n\r\n`;
  // The second request comes on the same connection once the server is closing: the connection is
  // busy with the first (so not closed as idle), and Node hands the second over to the app.
  let socket!: net.Socket;
  const answers = new Promise<string>((resolve, reject) => {
    socket = net.connect(port, "127.0.0.1", () => socket.write(Buffer.concat([Buffer.from(first), form.payload])));
    let out = "";
    socket.on("data", (d) => (out += d));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
  });
  await new Promise((r) => setTimeout(r, 300));
  const closed = t.app.close();
  await new Promise((r) => setTimeout(r, 50));
  socket.write("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  const raw = await answers;
  await closed;
  const parts = raw.split(/(?=HTTP\/1\.1 )/);
  assert.equal(parts.length, 2, raw);
  const captioned = parseRaw(parts[0]!);
  assert.equal(captioned.statusCode, 200, captioned.body);
  const refused = parseRaw(parts[1]!);
  assert.match(assertError(refused, 503, "shutting_down").message, /shutting down; retry/);
  assert.equal(refused.headers["retry-after"], "5");
  assert.equal(refused.headers.connection, "close");
});

test("security headers on API answers, errors included", async () => {
  const t = await testApp({ load: false });
  try {
    for (const url of ["/healthz", "/v1/models", "/no/such/route"]) {
      const res = await t.app.inject({ url });
      assert.equal(res.headers["x-content-type-options"], "nosniff", url);
      assert.equal(res.headers["x-frame-options"], "DENY", url);
      assert.match(String(res.headers["content-security-policy"]), /default-src 'self'.*frame-ancestors 'none'/, url);
      assert.equal(res.headers["strict-transport-security"], undefined, "HSTS is the TLS proxy's business");
    }
  } finally {
    await t.app.close();
  }
});

test("CORS: off by default (a preflight is a 404, no CORS header); configured origins get their preflight answered", async () => {
  const preflight = (origin: string) => ({ method: "OPTIONS" as const, url: "/v1/captions", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
  const off = await testApp({ load: false });
  try {
    const res = await off.app.inject(preflight("https://app.example"));
    assertError(res, 404, "not_found");
    assert.equal(res.headers["access-control-allow-origin"], undefined);
  } finally {
    await off.app.close();
  }

  const config = loadServerConfig({ env: { CAPTIONER_CORS_ORIGINS: "https://app.example, http://localhost:5173" }, flags: { models: [`blip=${goldenModel}`] } });
  assert.deepEqual(config.corsOrigins, ["https://app.example", "http://localhost:5173"]);
  assert.throws(() => loadServerConfig({ env: { CAPTIONER_CORS_ORIGINS: "app.example/path" } }), /not an origin; write it as https:\/\/host\[:port\]/);
  const services = await openServices(config, { dbFile: ":memory:" });
  const app = await buildApp({ services });
  try {
    const ok = await app.inject(preflight("https://app.example"));
    assert.equal(ok.statusCode, 204);
    assert.equal(ok.headers["access-control-allow-origin"], "https://app.example");
    assert.match(String(ok.headers["access-control-allow-methods"]), /POST/);
    assert.match(String(ok.headers["access-control-allow-headers"]), /authorization/);
    const other = await app.inject(preflight("https://elsewhere.example"));
    assert.equal(other.headers["access-control-allow-origin"], undefined, "an origin not listed gets no CORS answer");
    const get = await app.inject({ url: "/v1/models", headers: { origin: "https://app.example" } });
    assert.equal(get.headers["access-control-allow-origin"], "https://app.example");
    assert.match(String(get.headers["access-control-expose-headers"]), /retry-after/);
  } finally {
    await app.close();
  }
});

test("GET /v1/models shows a local checkpoint's path to admin keys only", async () => {
  const t = await testApp({ load: false });
  try {
    const source = async (headers: Record<string, string> = {}) => (await t.app.inject({ url: "/v1/models", headers })).json().models[0].source;
    assert.equal(await source(), "(local folder)", "with no keys nobody is an admin");
    const user = { authorization: `Bearer ${t.services.keys.create("user").key}` };
    const admin = { authorization: `Bearer ${t.services.keys.create("admin").key}` };
    assert.equal(await source(user), "(local folder)");
    assert.equal(await source(admin), goldenModel);
  } finally {
    await t.app.close();
  }
  // A hub repo id is not a secret: everyone sees it.
  const hub = await openServices(testConfig({ models: ["blip=Salesforce/blip-image-captioning-base"] }), { dbFile: ":memory:" });
  const app = await buildApp({ services: hub });
  try {
    assert.equal((await app.inject({ url: "/v1/models" })).json().models[0].source, "Salesforce/blip-image-captioning-base");
  } finally {
    await app.close();
  }
});

test("a job submitted while the server had no keys: open then, admins only once keys exist", async () => {
  const t = await testApp({ load: false });
  try {
    const created = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { images: [goldenImage("rgb_square.png").toString("base64")] } });
    assert.equal(created.statusCode, 202, created.body);
    const url = `/v1/jobs/${created.json().id}`;
    assert.equal((await t.app.inject({ url })).statusCode, 200, "readable while the server has no keys");
    const user = { authorization: `Bearer ${t.services.keys.create("user").key}` };
    const admin = { authorization: `Bearer ${t.services.keys.create("admin").key}` };
    assertError(await t.app.inject({ url, headers: user }), 404, "job_not_found");
    assert.equal((await t.app.inject({ url, headers: admin })).statusCode, 200);
  } finally {
    await t.app.close();
  }
});
