// Every kind of bad input gets a 4xx JSON error that says what to fix — never a 500 or a crash.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { goldenImage, multipart, pocUpload, testApp, type TestApp } from "../helpers/app.js";
import { repoRoot } from "../helpers/golden.js";

const errorFixture = (name: string) => fs.readFileSync(path.join(repoRoot, "test/fixtures/images/errors", name));
const png = goldenImage("rgb_square.png"); // 64×64 = 4096 pixels, 3.8 kB

let t: TestApp;
before(async () => {
  t = await testApp({ limits: { maxUploadBytes: 50_000, maxPixels: 1_000_000, maxImagesPerRequest: 3, maxBeams: 4, maxNewTokens: 30 } });
});
after(() => t.app.close());

async function expectError(res: { statusCode: number; json(): any; body: string }, status: number, code: string, message: RegExp) {
  assert.equal(res.statusCode, status, res.body);
  const { error } = res.json();
  assert.equal(error.code, code, res.body);
  assert.match(error.message, message);
}

const poc = (data: Uint8Array) => t.app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(data) });
const json = (payload: object) => t.app.inject({ method: "POST", url: "/v1/captions", payload });

test("image files that are not usable images: 400 or 415 naming the problem", async () => {
  const cases: [string, number, string, RegExp][] = [
    ["not_an_image.txt", 415, "unsupported_image_format", /not a recognised image.*Send a PNG, JPEG, WebP or GIF/],
    ["unsupported.bmp", 415, "unsupported_image_format", /BMP images are not supported/],
    ["zero_bytes.png", 400, "empty_image", /empty \(0 bytes\)/],
    ["truncated.jpg", 400, "invalid_image", /JPEG file is truncated or corrupt.*Send the complete file/],
    ["truncated.png", 400, "invalid_image", /PNG file is truncated/],
    ["truncated.gif", 400, "invalid_image", /GIF file is truncated/],
    ["truncated.webp", 400, "invalid_image", /WebP file is truncated/],
    ["truncated_header.png", 400, "invalid_image", /IHDR is cut off/],
  ];
  for (const [file, status, code, message] of cases) {
    await expectError(await poc(errorFixture(file)), status, code, message);
    await expectError(await json({ images: [errorFixture(file).toString("base64")] }), status, code, message);
  }
  // Which image of several is bad is named.
  await expectError(await json({ images: [png.toString("base64"), errorFixture("truncated.png").toString("base64")] }), 400, "invalid_image", /^image 2 of 2: /);
});

test("wrong, text or missing field: 400 naming the expected field `image`", async () => {
  await expectError(await t.app.inject({ method: "POST", url: "/image2caption/blip", ...multipart([{ name: "file", file: { data: png } }]) }), 400, "missing_image_field", /field "image" \(got a file in field "file"\)/);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart([{ name: "images", file: { data: png } }]) }), 400, "missing_image_field", /field "image"/);
  await expectError(await t.app.inject({ method: "POST", url: "/image2caption/blip", ...multipart([{ name: "image", value: "photo.jpg" }]) }), 400, "image_not_a_file", /must be a file upload.*@/);
  await expectError(await t.app.inject({ method: "POST", url: "/image2caption/blip", ...multipart([]) }), 400, "missing_image_field", /form is empty/);
  await expectError(await t.app.inject({ method: "POST", url: "/image2caption/blip", ...multipart([{ name: "image", file: { data: png } }, { name: "image", file: { data: png } }]) }), 400, "too_many_images", /one image/);
  await expectError(await json({ image: png.toString("base64") }), 400, "invalid_request", /body is missing the required field "images"/);
});

test("too large, too many pixels, too many images: 413 with the limit", async () => {
  const big = new Uint8Array(60_000);
  big.set(png);
  await expectError(await poc(big), 413, "image_too_large", /larger than 50000 bytes \(maxUploadBytes\)/);
  await expectError(await json({ images: [Buffer.from(big).toString("base64")] }), 413, "image_too_large", /50000-byte limit/);
  await expectError(await poc(goldenImage("large_1000x700_jpeg.jpg")), 413, "image_too_large", /50000/);
  // 64×64 passes, 80×48 = 3840 passes, 1000×700 is refused from its header (decompression-bomb guard).
  const t2 = await testApp({ limits: { maxPixels: 4000 } });
  try {
    await expectError(await t2.app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(png) }), 413, "too_many_pixels", /4096 pixels, more than the limit of 4000.*Downscale/);
    assert.equal((await t2.app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(goldenImage("rgb_nonsquare_jpeg.jpg")) })).statusCode, 200);
  } finally {
    await t2.app.close();
  }
  const four = Array.from({ length: 4 }, () => ({ name: "image", file: { data: png } }));
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart(four) }), 413, "too_many_images", /more than 3 images/);
  await expectError(await json({ images: new Array(4).fill(png.toString("base64")) }), 400, "invalid_request", /body.images must NOT have more than 3 items/);
});

test("unknown model: 404 listing the configured ones", async () => {
  await expectError(await json({ model: "nope", images: [png.toString("base64")] }), 404, "unknown_model", /unknown model "nope"; this server serves: blip/);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart([{ name: "image", file: { data: png } }, { name: "model", value: "nope" }]) }), 404, "unknown_model", /nope/);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { model: "nope", images: [png.toString("base64")] } }), 404, "unknown_model", /nope/);
});

test("out-of-range or invalid options: 400 naming the option and its limit", async () => {
  const image = [png.toString("base64")];
  await expectError(await json({ images: image, options: { num_beams: 5 } }), 400, "invalid_request", /body.options.num_beams must be <= 4/);
  await expectError(await json({ images: image, options: { max_new_tokens: 31 } }), 400, "invalid_request", /max_new_tokens must be <= 30/);
  await expectError(await json({ images: image, options: { num_beams: 0 } }), 400, "invalid_request", /num_beams must be >= 1/);
  await expectError(await json({ images: image, options: { num_beams: "many" } }), 400, "invalid_request", /num_beams must be integer/);
  await expectError(await json({ images: image, options: { num_beam: 2 } }), 400, "invalid_request", /unknown field "num_beam"/);
  await expectError(await json({ images: image, options: { num_beams: 2, num_return_sequences: 3 } }), 400, "invalid_option", /num_return_sequences \(3\) cannot exceed num_beams \(2\)/);
  await expectError(await json({ images: image, options: { max_length: 60 } }), 400, "option_out_of_range", /max_length 60 allows 59 new tokens, more than the server's maxNewTokens limit of 30/);
  await expectError(await json({ images: image, options: { prompt: "a picture of", max_length: 3 } }), 400, "option_out_of_range", /max_length \(3\) must be greater than the prompt's 4 tokens/);
  // The golden model has 64 positions: a long prompt is refused up front instead of failing its batch.
  await expectError(await json({ images: image, options: { prompt: "a dog ".repeat(40), max_new_tokens: 5 } }), 400, "option_out_of_range", /exceeds the model.s 64 positions/);
  const form = (value: string) => multipart([{ name: "image", file: { data: png } }, { name: "num_beams", value }]);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", ...form("9") }), 400, "invalid_request", /body.num_beams must be <= 4/);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", ...form("two") }), 400, "invalid_request", /num_beams must be integer/);
});

test("caption jobs are refused on submission for what POST /v1/captions refuses (issue 15)", async () => {
  const job = (images: Uint8Array[], options: object = {}) => t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { images: images.map((b) => Buffer.from(b).toString("base64")), options } });
  await expectError(await job([png], { max_length: 60 }), 400, "option_out_of_range", /max_length 60 allows 59 new tokens, more than the server's maxNewTokens limit of 30/);
  await expectError(await job([png], { num_beams: 2, num_return_sequences: 3 }), 400, "invalid_option", /num_return_sequences \(3\) cannot exceed num_beams \(2\)/);
  await expectError(await job([png], { prompt: "a picture of", max_length: 3 }), 400, "option_out_of_range", /max_length \(3\) must be greater than the prompt's 4 tokens/);
  await expectError(await job([png], { prompt: "a dog ".repeat(40), max_new_tokens: 5 }), 400, "option_out_of_range", /exceeds the model.s 64 positions/);
  await expectError(await job([png, errorFixture("truncated.jpg")]), 400, "invalid_image", /^image 2 of 2: .*JPEG file is truncated or corrupt/);
  await expectError(await job([errorFixture("not_an_image.txt")]), 415, "unsupported_image_format", /not a recognised image/);
  await expectError(await job([errorFixture("zero_bytes.png")]), 400, "empty_image", /empty \(0 bytes\)/);
  const big = new Uint8Array(60_000);
  big.set(png);
  await expectError(await job([big]), 413, "image_too_large", /50000-byte limit/);
  assert.equal(await t.services.queue.depth(), 0, "nothing was queued");
  // The job limit, not the request limit (3 here), bounds a job's images.
  const accepted = await job([png, png, png, png], { max_new_tokens: 2 });
  assert.equal(accepted.statusCode, 202, accepted.body);
  for (let i = 0; i < 400 && !["done", "failed"].includes((await t.services.queue.get(accepted.json().id))!.state); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal((await t.services.queue.get(accepted.json().id))!.state, "done");
});

test("malformed bodies: bad base64, bad JSON, wrong content type, cut-off multipart", async () => {
  await expectError(await json({ images: ["not base64!"] }), 400, "invalid_base64", /images\[0\] is not base64/);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "application/json" }, payload: "{images:" }), 400, "invalid_json", /JSON body could not be parsed/);
  await expectError(await t.app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "image/png" }, payload: png }), 415, "unsupported_content_type", /multipart\/form-data/);
  await expectError(await t.app.inject({ method: "POST", url: "/image2caption/blip", payload: { image: "x" } }), 415, "unsupported_content_type", /multipart\/form-data/);
  const upload = pocUpload(png);
  await expectError(await t.app.inject({ method: "POST", url: "/image2caption/blip", headers: upload.headers, payload: upload.payload.subarray(0, 500) }), 400, "invalid_multipart", /cut short/);
  await expectError(await t.app.inject({ method: "GET", url: "/v1/nothing" }), 404, "not_found", /GET \/v1\/nothing/);
});

test("fuzz: random bytes as image, as JSON and as multipart body never give a 5xx", async () => {
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const headers = [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xd8, 0xff], [0x47, 0x49, 0x46, 0x38, 0x39, 0x61], [0x52, 0x49, 0x46, 0x46, 1, 0, 0, 0, 0x57, 0x45, 0x42, 0x50], []];
  for (let i = 0; i < 25; i++) {
    const data = new Uint8Array([...headers[i % headers.length]!, ...bytes(Math.floor(random() * 400))]);
    // Also damage a real image at a random place.
    const damaged = Uint8Array.from(png);
    damaged.set(bytes(16), 16 + Math.floor(random() * (png.length - 32)));
    for (const body of [data, damaged]) {
      const res = await poc(body);
      assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`);
      assert.ok(res.json().error?.message || res.json().caption !== undefined);
    }
    const raw = await t.app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "multipart/form-data; boundary=x" }, payload: Buffer.from(data) });
    assert.ok(raw.statusCode >= 400 && raw.statusCode < 500, `${raw.statusCode} ${raw.body}`);
    const asJson = await t.app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "application/json" }, payload: Buffer.from(data) });
    assert.ok(asJson.statusCode >= 400 && asJson.statusCode < 500, `${asJson.statusCode} ${asJson.body}`);
  }
  assert.equal((await t.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
});
