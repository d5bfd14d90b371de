/**
 * The LLM path against a fake chat-completions server on loopback: success (streamed), malformed
 * replies, timeouts, HTTP 500 with bounded retries, slow streams, the concurrency cap — and the
 * deterministic fallback in every failing case.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { FALLBACK_KINDS, LlmConfigError, TAGS_JSON_SCHEMA, parseLlmConfig, schemaValidator } from "../../src/enrich/llm_config.js";
import { type Description, type RestyleInput, Restyler, UnknownStyleError, fallbackText, renderTemplate } from "../../src/enrich/restyle.js";
import { type FakeLlm, errorReply, sleep, startFakeLlm, streamReply } from "./fake_llm.js";

const INPUT: RestyleInput = {
  caption: "two small blue circles on a red background",
  tags: [
    { tag: "circle", score: 1, source: "noun" },
    { tag: "blue circle", score: 1, source: "adjective-noun" },
    { tag: "red", score: 0.87, source: "color" },
  ],
  colors: {
    palette: [
      { hex: "#dc1e1e", rgb: [220, 30, 30], share: 0.87, name: "red", family: "red" },
      { hex: "#1e3cd2", rgb: [30, 60, 210], share: 0.13, name: "mediumblue", family: "blue" },
    ],
  },
};

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());

function restyler(settings: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  return new Restyler(parseLlmConfig({ baseURL: fake.baseURL, model: "fake-model", maxRetries: 0, ...settings }, {}), { env });
}

function assertFallback(d: Description, reason: string, kindText: string) {
  assert.deepEqual(d.llm.used, false, JSON.stringify(d));
  assert.equal((d.llm as { reason: string }).reason, reason, JSON.stringify(d.llm));
  assert.equal(d.text, kindText);
}

describe("restyle: success", () => {
  test("a streamed reply is assembled; the request carries model, prompt, key and settings", async () => {
    fake.behave((_req, res) => streamReply(res, ["Two blue ", "circles on ", "red.  "]));
    const d = await restyler({ temperature: 0.3 }, { CAPTIONER_LLM_API_KEY: "sk-test" }).describe(INPUT, "alt-text");
    assert.equal(d.text, "Two blue circles on red.");
    assert.equal(d.style, "alt-text");
    assert.deepEqual({ ...d.llm, ms: 0 }, { used: true, model: "fake-model", ms: 0 });
    const [{ body, headers }] = fake.requests;
    assert.equal(headers.authorization, "Bearer sk-test");
    assert.equal(body.model, "fake-model");
    assert.equal(body.stream, true);
    assert.equal(body.temperature, 0.3);
    assert.equal(body.messages[0].role, "system");
    const user = body.messages[1];
    assert.equal(user.role, "user");
    assert.match(user.content, /Automatic caption: two small blue circles on a red background/);
    assert.match(user.content, /Tags: circle, blue circle, red/);
    assert.match(user.content, /Main colours: red 87%, blue \(mediumblue\) 13%/);
    assert.equal(body.response_format, undefined, "plain-text styles send no schema");
  });

  test("tags-json sends the schema as response_format and returns the parsed, validated reply (a Markdown fence is tolerated)", async () => {
    fake.behave((_req, res) => streamReply(res, ['```json\n{"tags": ["circle", ', '"blue", "red background"]}\n```']));
    const d = await restyler().describe(INPUT, "tags-json");
    assert.equal(d.llm.used, true);
    assert.deepEqual(d.data, { tags: ["circle", "blue", "red background"] });
    assert.equal(d.text, '{"tags":["circle","blue","red background"]}');
    assert.deepEqual(fake.requests[0].body.response_format, { type: "json_schema", json_schema: { name: "tags-json", schema: TAGS_JSON_SCHEMA } });
  });

  test("structuredOutputs: false leaves response_format out but still validates", async () => {
    fake.behave((_req, res) => streamReply(res, ['{"tags": 3}']));
    const d = await restyler({ structuredOutputs: false }).describe(INPUT, "tags-json");
    assert.equal(fake.requests[0].body.response_format, undefined);
    assert.equal((d.llm as { reason: string }).reason, "invalid_reply");
  });

  test("vision: the picture goes along as a data URL, only when enabled and small enough", async () => {
    fake.behave((_req, res) => streamReply(res, ["A picture."]));
    const image = { bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mimeType: "image/png" };
    await restyler({ vision: true }).describe({ ...INPUT, image }, "short");
    const parts = fake.requests[0].body.messages.at(-1).content;
    assert.equal(parts[0].type, "text");
    assert.deepEqual(parts[1], { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw==" } });

    fake.behave((_req, res) => streamReply(res, ["A picture."]));
    await restyler({ vision: false }).describe({ ...INPUT, image }, "short");
    assert.equal(typeof fake.requests[0].body.messages.at(-1).content, "string", "no vision: text only");

    fake.behave((_req, res) => streamReply(res, ["A picture."]));
    await restyler({ vision: true, maxImageBytes: 3 }).describe({ ...INPUT, image }, "short");
    assert.equal(typeof fake.requests[0].body.messages.at(-1).content, "string", "too large: text only");
  });

  test("a configured style with its own template and schema", async () => {
    fake.behave((_req, res) => streamReply(res, ['{"mood": "calm"}']));
    const styles = {
      mood: { system: "", prompt: "Caption: {{caption}} / all: {{captions}}", jsonSchema: { type: "object", required: ["mood"], properties: { mood: { enum: ["calm", "busy"] } } }, fallback: "caption" },
    };
    const r = restyler({ styles });
    assert.deepEqual(r.styles, ["alt-text", "product", "short", "tags-json", "mood"]);
    const d = await r.describe({ ...INPUT, captions: [INPUT.caption, "a red square"] }, "mood");
    assert.deepEqual(d.data, { mood: "calm" });
    assert.equal(fake.requests[0].body.messages.length, 1, "an empty system prompt is not sent");
    assert.equal(fake.requests[0].body.messages[0].content, "Caption: two small blue circles on a red background / all: two small blue circles on a red background\na red square");
  });
});

describe("restyle: failures fall back, saying why", () => {
  test("no endpoint configured: fallback without any request", async () => {
    fake.behave(() => assert.fail("no request expected"));
    const d = await new Restyler(parseLlmConfig({}, {})).describe(INPUT, "product");
    assertFallback(d, "not_configured", "Two small blue circles on a red background. Colors: red, blue.");
    assert.equal(fake.requests.length, 0);
  });

  test("malformed JSON reply for a JSON style: invalid_reply, and the fallback is schema-valid JSON", async () => {
    fake.behave((_req, res) => streamReply(res, ["Sure! tags: circle, blue"]));
    const d = await restyler().describe(INPUT, "tags-json");
    assertFallback(d, "invalid_reply", '{"tags":["circle","blue circle","red"]}');
    assert.match((d.llm as { detail: string }).detail, /not JSON/);
    assert.ok(schemaValidator(TAGS_JSON_SCHEMA)(d.data));
  });

  test("JSON that breaks the schema: invalid_reply naming the problem", async () => {
    fake.behave((_req, res) => streamReply(res, ['{"tags": [], "extra": 1}']));
    const d = await restyler().describe(INPUT, "tags-json");
    assert.equal((d.llm as { reason: string }).reason, "invalid_reply");
    assert.match((d.llm as { detail: string }).detail, /\/tags must NOT have fewer than 1 items/);
    assert.match((d.llm as { detail: string }).detail, /must NOT have additional properties/);
  });

  test("an error event inside the stream: http_error with the server's message", async () => {
    fake.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('data: {"error": {"message": "out of memory", "type": "server_error"}}\n\n');
    });
    const d = await restyler().describe(INPUT, "short");
    assertFallback(d, "http_error", "Two small blue circles on a red background");
    assert.match((d.llm as { detail: string }).detail, /mid-stream: .*out of memory/);
  });

  test("a stream whose data lines are not JSON: invalid_reply", async () => {
    fake.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('data: {"choices": [{"delta": {"content": "Hi"\n\n');
    });
    const d = await restyler().describe(INPUT, "short");
    assertFallback(d, "invalid_reply", "Two small blue circles on a red background");
  });

  test("an empty reply: invalid_reply", async () => {
    fake.behave((_req, res) => streamReply(res, ["   "]));
    assertFallback(await restyler().describe(INPUT, "alt-text"), "invalid_reply", "Two small blue circles on a red background.");
  });

  test("no answer at all: timeout after timeoutMs, not later", async () => {
    fake.behave(() => {}); // never answers
    const started = performance.now();
    const d = await restyler({ timeoutMs: 300 }).describe(INPUT, "alt-text");
    const elapsed = performance.now() - started;
    assertFallback(d, "timeout", "Two small blue circles on a red background.");
    assert.ok(elapsed >= 290 && elapsed < 1000, `took ${elapsed} ms`);
  });

  test("HTTP 500: retried maxRetries times, then http_error", async () => {
    fake.behave((_req, res) => errorReply(res, 500, "model crashed"));
    const d = await restyler({ maxRetries: 2 }).describe(INPUT, "alt-text");
    assertFallback(d, "http_error", "Two small blue circles on a red background.");
    assert.match((d.llm as { detail: string }).detail, /HTTP 500: .*model crashed/);
    assert.equal(fake.requests.length, 3, "one request plus two retries");
  });

  test("HTTP 500 once, then a good answer: the retry succeeds", async () => {
    fake.behave((_req, res) => (fake.requests.length === 1 ? errorReply(res, 503, "loading model") : streamReply(res, ["Recovered."])));
    const d = await restyler({ maxRetries: 1 }).describe(INPUT, "alt-text");
    assert.equal(d.llm.used, true);
    assert.equal(d.text, "Recovered.");
    assert.equal(fake.requests.length, 2);
  });

  test("HTTP 400 is not retried", async () => {
    fake.behave((_req, res) => errorReply(res, 400, "response_format not supported"));
    const d = await restyler({ maxRetries: 2 }).describe(INPUT, "tags-json");
    assert.equal((d.llm as { reason: string }).reason, "http_error");
    assert.equal(fake.requests.length, 1);
  });

  test("nothing listening: connection_error", async () => {
    const closed = await startFakeLlm();
    const baseURL = closed.baseURL;
    await closed.close();
    const d = await new Restyler(parseLlmConfig({ baseURL, model: "m", maxRetries: 0 }, {})).describe(INPUT, "short");
    assert.equal((d.llm as { reason: string }).reason, "connection_error");
  });
});

describe("restyle: slow streams and the concurrency cap", () => {
  test("a slow stream that ends within the timeout is used", async () => {
    fake.behave((_req, res) => streamReply(res, ["One ", "token ", "at ", "a ", "time."], 60));
    const d = await restyler({ timeoutMs: 3000 }).describe(INPUT, "alt-text");
    assert.equal(d.llm.used, true);
    assert.equal(d.text, "One token at a time.");
  });

  test("a stream still trickling at the timeout is abandoned (the connection closed) and the fallback answers", async () => {
    fake.behave((_req, res) => streamReply(res, Array.from({ length: 50 }, () => "word "), 50));
    const started = performance.now();
    const d = await restyler({ timeoutMs: 400 }).describe(INPUT, "alt-text");
    assert.ok(performance.now() - started < 1200);
    assertFallback(d, "timeout", "Two small blue circles on a red background.");
    await sleep(100);
    assert.equal(fake.abandoned, 1, "the client hung up instead of reading on");
  });

  test("maxConcurrent caps the requests in flight; the others wait their turn", async () => {
    fake.behave(async (_req, res) => {
      await sleep(80);
      await streamReply(res, ["Done."]);
    });
    const r = restyler({ maxConcurrent: 2 });
    const all = await Promise.all(Array.from({ length: 6 }, () => r.describe(INPUT, "short")));
    assert.ok(all.every((d) => d.llm.used && d.text === "Done."));
    assert.equal(fake.requests.length, 6);
    assert.equal(fake.maxInFlight, 2);
  });

  test("waiting for a slot counts toward the timeout", async () => {
    fake.behave(async (_req, res) => {
      await sleep(500);
      await streamReply(res, ["Late."]);
    });
    const r = restyler({ maxConcurrent: 1, timeoutMs: 700 });
    const [first, second] = await Promise.all([r.describe(INPUT, "short"), r.describe(INPUT, "short")]);
    assert.equal(first.llm.used, true);
    assert.equal((second.llm as { reason: string }).reason, "timeout");
  });
});

describe("styles and templates", () => {
  test("an unknown style is refused, listing the configured ones", async () => {
    await assert.rejects(restyler().describe(INPUT, "poem"), (e: unknown) => e instanceof UnknownStyleError && /configured styles are alt-text, product, short, tags-json/.test(e.message));
  });

  test("every fallback kind is deterministic text from the input", () => {
    assert.deepEqual(Object.keys(FALLBACK_KINDS), ["caption", "short", "product", "tags-json"]);
    assert.equal(fallbackText("caption", { caption: "  a dog on a beach " }).text, "A dog on a beach.");
    assert.equal(fallbackText("short", { caption: "a man riding a wave on top of a big surfboard in the sea" }).text, "A man riding a wave on top");
    assert.equal(fallbackText("product", { caption: "a red mug" }).text, "A red mug.");
    // Without tags given, tags-json derives them from the caption and colours.
    assert.deepEqual(fallbackText("tags-json", { caption: "a red fire hydrant", colors: INPUT.colors }).data, { tags: ["fire hydrant", "hydrant", "red fire hydrant", "red", "blue"] });
  });

  test("templates fill every field", () => {
    assert.equal(renderTemplate("{{ caption }}|{{tags}}|{{colors}}", { caption: "c" }), "c|none|unknown");
  });
});

describe("parseLlmConfig", () => {
  test("defaults: off, with the four built-in styles", () => {
    const c = parseLlmConfig(undefined, {});
    assert.equal(c.baseURL, "");
    assert.equal(c.defaultStyle, "alt-text");
    assert.equal(c.timeoutMs, 20_000);
    assert.deepEqual(Object.keys(c.styles), ["alt-text", "product", "short", "tags-json"]);
  });

  test("environment variables override the file", () => {
    const c = parseLlmConfig(
      { baseURL: "http://file:1/v1", model: "file-model", timeoutMs: 1000 },
      { CAPTIONER_LLM_BASE_URL: "http://env:2/v1/", CAPTIONER_LLM_TIMEOUT_MS: "2500", CAPTIONER_LLM_VISION: "yes" },
    );
    assert.deepEqual([c.baseURL, c.model, c.timeoutMs, c.vision], ["http://env:2/v1", "file-model", 2500, true]);
  });

  test("a built-in style can be partly overridden", () => {
    const c = parseLlmConfig({ styles: { short: { maxTokens: 10 } } }, {});
    assert.equal(c.styles.short.maxTokens, 10);
    assert.equal(c.styles.short.fallback, "short");
  });

  const refusals: Array<[string, unknown, NodeJS.ProcessEnv, RegExp]> = [
    ["bad URL", { baseURL: "localhost:11434" }, {}, /llm\.baseURL must be an http\(s\) URL such as "http:\/\/localhost:11434\/v1"/],
    ["model missing", { baseURL: "http://localhost:11434/v1" }, {}, /llm\.model is required when llm\.baseURL is set/],
    ["bad env number", {}, { CAPTIONER_LLM_TIMEOUT_MS: "soon" }, /environment variable CAPTIONER_LLM_TIMEOUT_MS must be an integer from 100 to 600000/],
    ["unknown setting", { baseUrl: "x" }, {}, /llm\.baseUrl is not a setting; the settings are baseURL, model/],
    ["bad key variable name", { apiKeyEnv: "my key" }, {}, /llm\.apiKeyEnv must be an environment variable name/],
    ["unknown placeholder", { styles: { x: { prompt: "{{caption}} {{title}}", fallback: "caption" } } }, {}, /llm\.styles\.x uses \{\{title\}\}; templates may use \{\{caption\}\}/],
    ["bad fallback", { styles: { x: { prompt: "p", fallback: "llm" } } }, {}, /llm\.styles\.x\.fallback must be one of caption, short, product, tags-json/],
    ["bad schema", { styles: { x: { prompt: "p", fallback: "caption", jsonSchema: { type: "thing" } } } }, {}, /llm\.styles\.x\.jsonSchema is not a valid JSON schema/],
    ["bad style name", { styles: { "Alt Text": { prompt: "p", fallback: "caption" } } }, {}, /a style name is lowercase letters/],
    ["unknown default style", { defaultStyle: "poem" }, {}, /llm\.defaultStyle "poem" is not a configured style; choose one of alt-text/],
  ];
  for (const [what, section, env, message] of refusals) {
    test(`refuses ${what} with a message saying what to fix`, () => {
      assert.throws(() => parseLlmConfig(section, env), (e: unknown) => e instanceof LlmConfigError && message.test(e.message));
    });
  }
});
