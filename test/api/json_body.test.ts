// Large JSON bodies are read chunk by chunk into a worker thread and parsed there (their long strings
// come back as bytes, one per turn of the event loop); base64 images are decoded a slice per turn.
// What a client sees must not change: the same values, the same errors, the same limits.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import sharp from "sharp";
import { OFF_THREAD_MIN_BYTES } from "../../src/api/json/off_thread.js";
import { base64Images } from "../../src/api/routes/input.js";
import { testApp } from "../helpers/app.js";

/** A noisy PNG of a few MB: its base64 spans more than one 4 Mi-character decoding slice. */
async function bigPng(): Promise<Buffer> {
  const side = 1100;
  const pixels = randomBytes(side * side * 3);
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}

test("a large JSON job body is parsed off the event loop into the same images", async () => {
  const file = await bigPng();
  const base64 = file.toString("base64");
  assert.ok(base64.length > 4 * 1024 * 1024 && base64.length > OFF_THREAD_MIN_BYTES, `${base64.length} characters`);
  const t = await testApp({ load: false });
  try {
    const payload = JSON.stringify({ model: "blip", images: [base64, `data:image/png;base64,${base64}`], options: { max_new_tokens: 3, prompt: "a ünïcode prompt" } });
    const res = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", headers: { "content-type": "application/json" }, payload });
    assert.equal(res.statusCode, 202, res.body);
    const job = await t.services.queue.get(res.json().id);
    const stored = job!.payload as { images: string[]; options: { prompt: string } };
    assert.deepEqual(stored.images, [base64, base64], "both images decoded to the file's bytes");
    assert.equal(stored.options.prompt, "a ünïcode prompt");
  } finally {
    await t.app.close();
  }
});

test("large JSON bodies keep Fastify's errors: invalid JSON, prototype poisoning, body limit, Content-Length", async () => {
  const t = await testApp({ load: false, limits: { maxJobBytes: 3_000_000 } });
  try {
    const filler = "A".repeat(OFF_THREAD_MIN_BYTES + 10);
    const post = (payload: string, headers: Record<string, string> = {}) => t.app.inject({ method: "POST", url: "/v1/jobs/captions", headers: { "content-type": "application/json", ...headers }, payload });
    const broken = await post(`{"images": ["${filler}"]`);
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().error.code, "invalid_json");
    const poisoned = await post(`{"__proto__": {"admin": true}, "images": ["${filler}"]}`);
    assert.equal(poisoned.statusCode, 400, poisoned.body);
    assert.equal(poisoned.json().error.code, "invalid_json");
    const tooLarge = await post(JSON.stringify({ images: ["A".repeat(5_500_000)] }), { "transfer-encoding": "chunked" });
    assert.equal(tooLarge.statusCode, 413);
    assert.equal(tooLarge.json().error.code, "body_too_large");
    const empty = await post("");
    assert.equal(empty.statusCode, 400);
    // A small body still takes the short path, with the same answers.
    const small = await post(`{"images": [`);
    assert.equal(small.json().error.code, "invalid_json");
  } finally {
    await t.app.close();
  }
});

test("base64 images: either alphabet, data URLs and line breaks decode; anything else is refused", async () => {
  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) & 0xff));
  const plain = bytes.toString("base64");
  const wrapped = plain.replace(/.{76}/g, "$&\n");
  const decoded = await base64Images([plain, bytes.toString("base64url"), `data:image/png;base64,${plain}`, wrapped, plain.replace(/=+$/, "")]);
  for (const image of decoded) assert.ok(Buffer.from(image).equals(bytes));
  await assert.rejects(base64Images([plain, `${plain.slice(0, 100)}!${plain.slice(101)}`]), /images\[1\] is not base64/);
});

test("a large JSON body nested too deep or holding too many values gets 400 at once, and the next body is parsed", { timeout: 60_000 }, async () => {
  const t = await testApp({ load: false, limits: { maxJobBytes: 3_000_000 } });
  try {
    const filler = "A".repeat(OFF_THREAD_MIN_BYTES + 10);
    const post = (payload: string) => t.app.inject({ method: "POST", url: "/v1/jobs/captions", headers: { "content-type": "application/json" }, payload });
    // ≈ 5,000 levels used to overflow the event loop's stack while the thread's answer was rebuilt: no answer, ever.
    const deep = await post(`{"images": ["${filler}"], "x": ${"[".repeat(5000)}${"]".repeat(5000)}}`);
    assert.equal(deep.statusCode, 400, deep.body);
    assert.equal(deep.json().error.code, "invalid_json");
    assert.match(deep.json().error.message, /nests deeper than 64 levels/);
    const many = await post(`{"images": ["${filler}"], "x": [${Array.from({ length: 200_000 }, () => "0").join(",")}]}`);
    assert.equal(many.statusCode, 400, many.body);
    assert.match(many.json().error.message, /more than 100000 values/);
    const fine = await post(JSON.stringify({ images: [filler] }));
    assert.notEqual(fine.json().error?.code, "invalid_json", fine.body);
  } finally {
    await t.app.close();
  }
});

test("line-wrapped base64 of several MB decodes a slice at a time into the same bytes", async () => {
  const file = await bigPng();
  const wrapped = file.toString("base64").replace(/.{76}/g, "$&\n");
  assert.ok(wrapped.length > 4 * 1024 * 1024, "spans more than one slice");
  const [decoded] = await base64Images([wrapped]);
  assert.ok(Buffer.from(decoded!).equals(file));
  const bad = Math.floor(wrapped.length * 0.9); // in the second slice
  await assert.rejects(base64Images([`${wrapped.slice(0, bad)}*${wrapped.slice(bad + 1)}`]), /images\[0\] is not base64/);
});
