// Connection-level limits: a declared body too large for its route is refused before it is read,
// and a client that sends its request too slowly is cut off after bodyTimeoutMs.
import test from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { testApp } from "../helpers/app.js";

/** Sends raw `head` (and optionally a first piece of body), returns what the server answers and when the socket ended. */
function rawRequest(port: number, head: string, body = "", waitMs = 5000): Promise<{ text: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, "127.0.0.1", () => socket.write(head + body));
    let text = "";
    const done = () => resolve({ text, ms: Date.now() - started });
    socket.on("data", (d) => (text += d));
    socket.on("close", done);
    socket.on("error", done);
    setTimeout(() => socket.destroy(), waitMs);
  });
}

test("a multipart request declaring 10^12 bytes gets 413 at once, in the one error shape", async () => {
  const { app } = await testApp({ load: false });
  try {
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as AddressInfo;
    for (const route of ["/v1/captions", "/image2caption/blip", "/v1/jobs/captions"]) {
      const head = `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=abc\r\nContent-Length: 1000000000000\r\n\r\n`;
      const { text, ms } = await rawRequest(port, head, "--abc\r\n");
      assert.match(text, /^HTTP\/1\.1 413 /, `${route}: ${text.slice(0, 80)}`);
      assert.match(text, /"code":"body_too_large"/);
      assert.match(text, /maxUploadBytes/);
      assert.ok(ms < 3000, `${route} answered after ${ms} ms`);
    }
  } finally {
    await app.close();
  }
});

test("a body within the route's limits is not refused by its declared length", async () => {
  const { app } = await testApp({ load: false, limits: { maxUploadBytes: 1000, maxImagesPerRequest: 2 } });
  try {
    const ok = await app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "application/json" }, payload: JSON.stringify({ images: ["aGVsbG8="] }) });
    assert.notEqual(ok.statusCode, 413);
    const big = await app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "application/json" }, payload: JSON.stringify({ images: ["A".repeat(5 * 1024 * 1024)] }) });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error.code, "body_too_large");
  } finally {
    await app.close();
  }
});

test("a client that sends its body too slowly is cut off after bodyTimeoutMs", async () => {
  const { app } = await testApp({ load: false, limits: { bodyTimeoutMs: 800 } });
  try {
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as AddressInfo;
    const head = "POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    const { text, ms } = await rawRequest(port, head, '{"images": [', 10_000);
    assert.ok(ms < 5000, `connection held ${ms} ms`);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /"code":"request_timeout"/);
  } finally {
    await app.close();
  }
});

test("a caption job's JSON body is limited by maxJobBytes: 413 body_too_large from the declared length, job_too_large for the exact rule", async () => {
  // 3 MB of images per job: the body limit is 3 MB as base64 (4 MB) plus 1 MiB of slack.
  const maxJobBytes = 3_000_000;
  const { app } = await testApp({ load: false, limits: { maxJobBytes, maxUploadBytes: 20 * 1024 * 1024, maxImagesPerRequest: 16 } });
  try {
    assert.equal(app.hasRoute({ method: "POST", url: "/v1/jobs/captions" }), true);
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as AddressInfo;
    const limit = Math.ceil((maxJobBytes * 4) / 3) + 1024 * 1024;
    // The body limit of the sync route (16 × 20 MiB) would take this; the job route refuses it before reading it.
    const head = (length: number) => `POST /v1/jobs/captions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const { text, ms } = await rawRequest(port, head(limit + 1), '{"images": [');
    assert.match(text, /^HTTP\/1\.1 413 /, text.slice(0, 80));
    const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.code, "body_too_large");
    assert.match(body.error.message, new RegExp(`declares ${limit + 1} bytes, more than this route accepts \\(${limit} bytes: at most ${maxJobBytes} bytes of images in one job \\(maxJobBytes\\), base64-encoded\\)`));
    assert.ok(ms < 3000, `answered after ${ms} ms`);
    // The sync route keeps its own limit, derived from a request's images.
    const sync = await rawRequest(port, head(limit + 1).replace("/v1/jobs/captions", "/v1/captions"), "", 500);
    assert.doesNotMatch(sync.text, /413/);

    // Within the body limit but over the rule (the slack is for the JSON, not for images): 413 job_too_large.
    const image = Buffer.alloc(maxJobBytes / 2 + 1, 1).toString("base64");
    const over = await app.inject({ method: "POST", url: "/v1/jobs/captions", headers: { "content-type": "application/json" }, payload: JSON.stringify({ images: [image, image] }) });
    assert.equal(over.statusCode, 413);
    assert.equal(over.json().error.code, "job_too_large");
    assert.match(over.json().error.message, /2 images are 3000002 bytes in all; a job may carry at most 3000000 bytes of images in one job \(maxJobBytes\)/);
    // A body actually over the limit, without a declared length (chunked): the same rule in the one error shape.
    const chunked = await app.inject({ method: "POST", url: "/v1/jobs/captions", headers: { "content-type": "application/json", "transfer-encoding": "chunked" }, payload: JSON.stringify({ images: ["A".repeat(limit)] }) });
    assert.equal(chunked.statusCode, 413);
    assert.equal(chunked.json().error.code, "body_too_large");
    assert.match(chunked.json().error.message, /at most 3000000 bytes of images in one job \(maxJobBytes\)/);
  } finally {
    await app.close();
  }
});
