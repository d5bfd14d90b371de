// POST /v1/chat/completions driven by the official `openai` npm client against a listening app:
// the caption of /image2caption/blip as the assistant message, n beams, streaming, a style's
// description, and OpenAI-shaped errors (remote URL refused, unknown model 404, API keys).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import OpenAI, { APIError, NotFoundError, AuthenticationError } from "openai";
import { goldenImage, pocUpload, testApp, type TestApp } from "../helpers/app.js";

let t: TestApp;
let client: OpenAI;
let baseURL: string;
const dataUrl = (file: string) => `data:image/png;base64,${goldenImage(file).toString("base64")}`;
const ask = (url: string, text = "What is in this image?") => [
  { role: "user" as const, content: [{ type: "text" as const, text }, { type: "image_url" as const, image_url: { url } }] },
];

before(async () => {
  t = await testApp();
  await t.app.listen({ host: "127.0.0.1", port: 0 });
  const address = t.app.server.address() as { port: number };
  baseURL = `http://127.0.0.1:${address.port}/v1`;
  client = new OpenAI({ baseURL, apiKey: "unused-without-keys", maxRetries: 0 });
});
after(async () => t.app.close());

test("the assistant message is the PoC route's caption; the user's text is not a prompt", async () => {
  const poc = (await t.app.inject({ method: "POST", url: "/image2caption/blip", ...pocUpload(goldenImage("rgb_square.png"), "a.png", "image/png") })).json();
  const reply = await client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")) });
  assert.equal(reply.object, "chat.completion");
  assert.equal(reply.model, "blip");
  assert.equal(reply.choices.length, 1);
  assert.equal(reply.choices[0]!.message.role, "assistant");
  assert.equal(reply.choices[0]!.message.content, poc.caption);
  assert.equal(reply.choices[0]!.finish_reason, "stop");
  const other = await client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png"), "a photograph of") });
  assert.equal(other.choices[0]!.message.content, poc.caption);
});

test("n > 1: n choices, the captions of beam search with n beams; max_tokens bounds them", async () => {
  const v1 = (await t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: [goldenImage("rgb_square.png").toString("base64")], options: { num_beams: 3, num_return_sequences: 3, max_new_tokens: 6 } } })).json();
  const reply = await client.chat.completions.create({ model: "blip", n: 3, max_tokens: 6, messages: ask(dataUrl("rgb_square.png")) });
  assert.deepEqual(reply.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(reply.choices.map((c) => c.message.content), v1.results[0].captions.map((c: { text: string }) => c.text));
});

test("stream: true answers with one chunk and [DONE]", async () => {
  const stream = await client.chat.completions.create({ model: "blip", stream: true, messages: ask(dataUrl("rgb_square.png")) });
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  const plain = await client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")) });
  assert.equal(chunks, 1);
  assert.equal(text, plain.choices[0]!.message.content);
});

test("the style extension answers with the description (fallback without an LLM)", async () => {
  const reply = await client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")), style: "alt-text" } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const plain = await client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")) });
  const caption = plain.choices[0]!.message.content!;
  assert.equal(reply.choices[0]!.message.content, `${caption[0]!.toUpperCase()}${caption.slice(1)}.`);
  await assert.rejects(client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")), style: "sonnet" } as OpenAI.ChatCompletionCreateParamsNonStreaming), (e: APIError) => {
    assert.equal(e.status, 400);
    assert.match(e.message, /alt-text, product, short, tags-json/);
    return true;
  });
});

test("errors in OpenAI's shape: remote URLs refused, unknown model 404, no image, bad max_tokens", async () => {
  await assert.rejects(client.chat.completions.create({ model: "blip", messages: ask("https://example.com/cat.jpg") }), (e: APIError) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, "remote_image_url_not_supported");
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.param, "messages[0].content[1].image_url.url");
    assert.match(e.message, /data URL/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: "gpt-4o", messages: ask(dataUrl("rgb_square.png")) }), (e: APIError) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.code, "model_not_found");
    assert.equal(e.param, "model");
    assert.match(e.message, /configured models: blip/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: "blip", messages: [{ role: "user", content: "hello" }] }), (e: APIError) => e.status === 400 && e.code === "missing_image");
  await assert.rejects(client.chat.completions.create({ model: "blip", max_tokens: 10_000, messages: ask(dataUrl("rgb_square.png")) }), (e: APIError) => e.status === 400 && e.param === "max_tokens");
  await assert.rejects(client.chat.completions.create({ model: "blip", messages: ask("data:image/png;base64,AAAA") }), (e: APIError) => e.status === 415 || e.status === 400);

  // The raw body, as any other client sees it.
  const raw = await fetch(`${baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "nope", messages: ask(dataUrl("rgb_square.png")) }) });
  assert.equal(raw.status, 404);
  const body = (await raw.json()) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
});

test("the same key rules as the caption routes: once keys exist, any key is needed", async () => {
  const key = t.services.keys.create("user", "chat");
  try {
    await assert.rejects(client.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")) }), (e: APIError) => {
      assert.ok(e instanceof AuthenticationError);
      assert.equal(e.type, "authentication_error");
      return true;
    });
    const keyed = new OpenAI({ baseURL, apiKey: key.key, maxRetries: 0 });
    const reply = await keyed.chat.completions.create({ model: "blip", messages: ask(dataUrl("rgb_square.png")) });
    assert.equal(reply.choices.length, 1);
  } finally {
    t.services.keys.revoke(key.info.id);
  }
});
