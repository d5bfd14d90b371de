// The features option over HTTP (issue 12): tags and colours on a shapes image whose colours are
// known, the default responses unchanged, styles limited to the configured ones, EXIF orientation
// on request, and the OpenAPI document describing every new field.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { buildApp } from "../../src/api/app.js";
import { openServices } from "../../src/api/services.js";
import { ConfigError, loadServerConfig } from "../../src/serving/config.js";
import { startFakeLlm, streamReply } from "../enrich/fake_llm.js";
import { goldenImage, multipart, pocUpload, testApp, testConfig } from "../helpers/app.js";
import { repoRoot } from "../helpers/golden.js";

// "two small blue circles on a red background" (64×64).
const SHAPES = fs.readFileSync(path.resolve(repoRoot, "../shared/datasets/shapes/train/000000.png"));
const png = (data: Uint8Array, filename = "shape.png") => ({ name: "image", file: { data, filename, type: "image/png" } });

test("features over HTTP: colours and tags of a shapes image; the default responses stay as they were", async () => {
  const t = await testApp();
  try {
    // Default: exactly the fields of before.
    const poc = await t.app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(SHAPES, "s.png", "image/png") });
    assert.equal(poc.statusCode, 200, poc.body);
    assert.deepEqual(Object.keys(poc.json()).sort(), ["caption", "model"]);
    const v1 = await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart([png(SHAPES)]) });
    assert.equal(v1.statusCode, 200, v1.body);
    assert.deepEqual(Object.keys(v1.json().results[0]), ["captions"]);

    // PoC route, features as a query parameter.
    const rich = await t.app.inject({ method: "POST", url: "/image2caption/blip?features=caption,tags,colors", ...pocUpload(SHAPES, "s.png", "image/png") });
    assert.equal(rich.statusCode, 200, rich.body);
    const body = rich.json();
    assert.equal(body.caption, poc.json().caption);
    assert.equal(body.colors.palette[0].family, "red", "the red background is the largest colour");
    assert.equal(body.colors.background.family, "red");
    assert.ok(body.colors.palette.some((c: { family: string }) => c.family === "blue"), JSON.stringify(body.colors.palette));
    assert.equal(body.colors.foreground.family, "blue");
    assert.equal(body.colors.grayscale, false);
    const shares = body.colors.palette.map((c: { share: number }) => c.share);
    assert.deepEqual(shares, [...shares].sort((a: number, b: number) => b - a));
    for (const c of body.colors.palette) assert.match(c.hex, /^#[0-9a-f]{6}$/);
    const tags = body.tags as { tag: string; score: number; source: string }[];
    assert.ok(tags.some((x) => x.tag === "red" && x.source === "color"), JSON.stringify(tags));
    assert.ok(tags.some((x) => x.tag === "blue" && x.source === "color"));
    for (const x of tags) assert.ok(x.score >= 0 && x.score <= 1 && ["noun", "adjective-noun", "color"].includes(x.source), JSON.stringify(x));

    // v1 multipart: colours only (no caption field), several images in order.
    const form = await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart([png(SHAPES), png(goldenImage("rgb_square.png")), { name: "features", value: "colors" }]) });
    assert.equal(form.statusCode, 200, form.body);
    const [first, second] = form.json().results;
    assert.deepEqual(Object.keys(first), ["colors"]);
    assert.equal(first.colors.palette[0].family, "red");
    assert.ok(second.colors.palette.length > 0);

    // v1 JSON with a description (no LLM configured: the fallback, saying why).
    const json = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [SHAPES.toString("base64")], features: "caption,description", style: "short" } });
    assert.equal(json.statusCode, 200, json.body);
    const described = json.json().results[0];
    assert.equal(described.description.style, "short");
    assert.equal(described.description.llm.used, false);
    assert.equal(described.description.llm.reason, "not_configured");
    assert.ok(described.description.text.length > 0);
  } finally {
    await t.app.close();
  }
});

test("features: unknown features, unknown styles and a style without description are 400s that say what to send", async () => {
  const t = await testApp();
  try {
    const style = await t.app.inject({ method: "POST", url: "/image2caption/blip?features=caption,description&style=poem", ...pocUpload(SHAPES, "s.png", "image/png") });
    assert.equal(style.statusCode, 400, style.body);
    assert.equal(style.json().error.code, "unknown_style");
    assert.match(style.json().error.message, /alt-text, product, short, tags-json/);

    const feature = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [SHAPES.toString("base64")], features: "caption,objects" } });
    assert.equal(feature.statusCode, 400);
    assert.match(feature.json().error.message, /unknown feature "objects".*caption, tags, colors, description/);

    const lonely = await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart([png(SHAPES), { name: "style", value: "short" }]) });
    assert.equal(lonely.statusCode, 400);
    assert.match(lonely.json().error.message, /add description to features/);

    const query = await t.app.inject({ method: "POST", url: "/image2caption/blip?feature=tags", ...pocUpload(SHAPES, "s.png", "image/png") });
    assert.equal(query.statusCode, 400);
    assert.match(query.json().error.message, /unknown field "feature"/);
  } finally {
    await t.app.close();
  }
});

test("exif_transpose turns a sideways photo upright before captioning and colours; off by default", async () => {
  const t = await testApp();
  try {
    const photo = goldenImage("exif_orientation6_jpeg.jpg");
    const plain = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [photo.toString("base64")], features: "caption,colors" } });
    const upright = await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [photo.toString("base64")], features: "caption,colors", exif_transpose: true } });
    assert.equal(plain.statusCode, 200, plain.body);
    assert.equal(upright.statusCode, 200, upright.body);
    assert.ok(upright.json().results[0].colors.palette.length > 0);
    const poc = await t.app.inject({ method: "POST", url: "/image2caption/blip?exif_transpose=true", ...pocUpload(photo) });
    assert.equal(poc.statusCode, 200, poc.body);
    assert.equal(poc.json().caption, upright.json().results[0].captions[0].text);
  } finally {
    await t.app.close();
  }
});

test("the OpenAPI document describes features, colours, tags and descriptions", async () => {
  const t = await testApp({ load: false });
  try {
    const doc = (await t.app.inject({ method: "GET", url: "/openapi.json" })).json();
    const poc = doc.paths["/image2caption/blip"].post;
    assert.ok(poc.parameters.some((p: { name: string; in: string }) => p.name === "features" && p.in === "query"));
    const ok = poc.responses["200"].content["application/json"].schema;
    assert.deepEqual(Object.keys(ok.properties.colors.properties).sort(), ["accent", "background", "foreground", "grayscale", "palette"]);
    assert.ok(ok.properties.description.properties.llm);
    const v1 = doc.paths["/v1/captions"].post.requestBody.content["application/json"].schema;
    assert.ok(v1.properties.features && v1.properties.style && v1.properties.exif_transpose);
    assert.ok(doc.paths["/v1/chat/completions"].post);
  } finally {
    await t.app.close();
  }
});

test("the server's llm section: a configured endpoint writes descriptions in configured styles; a bad section is refused at start", async () => {
  const fake = await startFakeLlm();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llm-config-"));
  const file = path.join(dir, "c.json");
  fs.writeFileSync(file, JSON.stringify({ llm: { baseURL: fake.baseURL, model: "fake-vision", styles: { seo: { prompt: "Title for {{caption}}", fallback: "short" } } } }));
  const config = { ...testConfig(), llm: loadServerConfig({ file, env: {} }).llm };
  const services = await openServices(config, { dbFile: ":memory:" });
  await services.registry.loadAll();
  const app = await buildApp({ services });
  try {
    fake.behave((_req, res) => streamReply(res, ["Two blue ", "circles on red"]));
    const res = await app.inject({ method: "POST", url: "/image2caption/blip?features=description&style=seo", ...pocUpload(SHAPES, "s.png", "image/png") });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(Object.keys(res.json()).sort(), ["description", "model"]);
    assert.equal(res.json().description.text, "Two blue circles on red");
    assert.equal(res.json().description.llm.used, true);
    assert.equal(fake.requests[0]!.body.model, "fake-vision");
    assert.match(JSON.stringify(fake.requests[0]!.body.messages), /Title for /);
  } finally {
    await app.close();
    await fake.close();
  }
  fs.writeFileSync(file, JSON.stringify({ llm: { baseURL: "http://localhost:11434/v1", model: "m", timeoutMs: 5 } }));
  assert.throws(() => loadServerConfig({ file, env: {} }), (e: Error) => e instanceof ConfigError && /llm\.timeoutMs must be an integer from 100/.test(e.message) && e.message.includes(file));
});
