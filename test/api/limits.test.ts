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
