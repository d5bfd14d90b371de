// The public page in a real browser (Debian's Chromium through playwright-core) against buildApp()
// with the golden BLIP model, listening on loopback: caption end to end through the file input, the
// enrichment fields when the server returns them, the API's errors, keyboard-only use, API keys.
// Screenshots go to test-artifacts/web/.
import test, { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { FileChooser, Page, Route } from "playwright-core";
import sharp from "sharp";
import { expectedCaptions, goldenImage, multipart, type Part, testApp, type TestApp } from "../helpers/app.js";
import { type Browser, listen, noChromium, openBrowser, screenshot } from "./browser.js";

const MAX_UPLOAD = 32 * 1024; // rgb_square.png (8 KB) passes, large_1000x700_jpeg.jpg (93 KB) is too large
const png = (name = "rgb_square.png") => ({ name, mimeType: "image/png", buffer: goldenImage(name) });

/** What the page shows in its results, read from the DOM. */
async function shown(page: Page) {
  return {
    captions: await page.locator(".result .caption-text").allTextContents(),
    tags: await page.locator(".result .tag-name").allTextContents(),
    palette: await page.locator(".result .palette .color-name").allTextContents(),
    description: await page.locator(".result .description").allTextContents(),
    error: (await page.locator("#error").textContent()) ?? "",
  };
}

/** The API's answer to the same upload, straight from app.inject. */
async function apiAnswer(t: TestApp, parts: Part[]): Promise<{ status: number; body: any }> {
  const res = await t.app.inject({ method: "POST", url: "/v1/captions", ...multipart(parts) });
  return { status: res.statusCode, body: res.json() };
}

/** Loads the page and waits until it has read the models and the options from the server. */
async function openPage(browser: Browser, base: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // The browser logs every 4xx/5xx response; the tests check what the page shows for those instead.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  await page.goto(base);
  await page.locator("#opt-num_beams").waitFor();
  return { page, problems };
}

async function caption(page: Page): Promise<void> {
  await page.click("#submit");
  await page.locator("#submit:not([aria-disabled='true'])").waitFor();
}

describe("the public page", { skip: noChromium }, () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  before(async () => {
    t = await testApp({ limits: { maxUploadBytes: MAX_UPLOAD } });
    base = await listen(t);
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.app.close();
  });

  test("captions an image uploaded through the file input, as the API does", async () => {
    const { page, problems } = await openPage(browser, base);
    assert.equal(await page.locator("#model").inputValue(), "blip");
    await page.setInputFiles("#file", png());
    await page.fill("#opt-num_beams", "3");
    await page.fill("#opt-num_return_sequences", "3");
    await page.fill("#opt-max_new_tokens", "10");
    const response = page.waitForResponse((r) => r.url().endsWith("/v1/captions"));
    await caption(page);
    const got = await (await response).json();
    const seen = await shown(page);

    const api = await apiAnswer(t, [{ name: "image", file: { data: goldenImage("rgb_square.png"), type: "image/png" } }, { name: "num_beams", value: "3" }, { name: "num_return_sequences", value: "3" }, { name: "max_new_tokens", value: "10" }]);
    assert.equal(api.status, 200);
    const apiTexts = api.body.results[0].captions.map((c: { text: string }) => c.text);
    assert.deepEqual(seen.captions, apiTexts);
    assert.deepEqual(seen.captions, expectedCaptions("beam3_return3"));
    // Whatever enrichment this server returned (issue 12's features), the page shows exactly that.
    const result = got.results[0];
    assert.deepEqual(seen.tags, (result.tags ?? []).map((x: { tag: string }) => x.tag));
    assert.deepEqual(seen.palette, (result.colors?.palette ?? []).map((c: { name?: string; hex: string }) => c.name ?? c.hex));
    assert.deepEqual(seen.description, result.description?.text ? [result.description.text] : []);
    assert.equal(seen.error, "");
    assert.equal(await page.locator(".result h3").textContent(), "rgb_square.png");
    await screenshot(page, "caption");
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("asks for tags, colours and the description when the server offers them, and shows them", async () => {
    const { page, problems } = await openPage(browser, base);
    // A server with issue 12's `features` field: the OpenAPI document lists it, the route answers the fields.
    await page.route("**/openapi.json", async (route) => {
      const res = await route.fetch();
      const doc = await res.json();
      doc.paths["/v1/captions"].post.requestBody.content["multipart/form-data"].schema.properties.features = { type: "string", description: "comma-separated" };
      await route.fulfill({ response: res, json: doc });
    });
    let posted = "";
    let answer: object = ENRICHED;
    await page.route("**/v1/captions", async (route: Route) => {
      posted = route.request().postDataBuffer()?.toString("latin1") ?? "";
      await route.fulfill({ json: answer });
    });
    await page.reload();
    await page.locator("#opt-num_beams").waitFor();
    await page.setInputFiles("#file", { name: "circles.png", mimeType: "image/png", buffer: await circles() });
    await caption(page);
    assert.match(posted, /name="features"\r\n\r\ncaption,tags,colors,description\r\n/);
    const seen = await shown(page);
    assert.deepEqual(seen.captions, ["two small blue circles on a red background"]);
    assert.deepEqual(seen.tags, ["circle", "blue circle", "red"]);
    assert.deepEqual(seen.palette, ["crimson", "royalblue"]);
    assert.deepEqual(seen.description, ["Two small blue circles on a red background."]);
    const swatch = page.locator(".palette .swatch").first();
    assert.equal(await page.evaluate("getComputedStyle(document.querySelector('.palette .swatch')).backgroundColor"), "rgb(220, 20, 60)");
    assert.equal(await swatch.getAttribute("aria-hidden"), "true", "the swatch is decoration; its name and hex are text");
    assert.match((await page.locator(".roles").textContent()) ?? "", /Background.*crimson.*Foreground.*royalblue.*Accent.*royalblue.*Greyscale\s*no/s);
    assert.match((await page.locator(".result .note").textContent()) ?? "", /without the LLM \(not configured\)/);
    await screenshot(page, "features");

    // A server that returns captions only: nothing more is shown, and it is not an error.
    answer = { model: "blip", results: [{ captions: [{ text: "a plain caption" }] }] };
    await caption(page);
    assert.deepEqual(await shown(page), { captions: ["a plain caption"], tags: [], palette: [], description: [], error: "" });
    assert.equal(await page.locator(".result .feature").count(), 0);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("a file that is not an image shows the API's 415 message", async () => {
    const { page, problems } = await openPage(browser, base);
    const text = Buffer.from("these are notes, not pixels\n");
    await page.setInputFiles("#file", { name: "notes.txt", mimeType: "text/plain", buffer: text });
    await caption(page);
    const api = await apiAnswer(t, [{ name: "image", file: { data: text, filename: "notes.txt", type: "text/plain" } }]);
    assert.equal(api.status, 415);
    const alert = page.locator("#error");
    assert.equal(await alert.getAttribute("role"), "alert");
    assert.equal(await page.locator("#error .error-message").textContent(), api.body.error.message);
    assert.match((await alert.textContent()) ?? "", /Not an image.*HTTP 415, unsupported_image_format/s);
    assert.equal(await page.locator(".result").count(), 0);
    await screenshot(page, "error-415");
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("too large (413) and queue full (503 with Retry-After) are explained", async () => {
    const { page, problems } = await openPage(browser, base);
    const big = goldenImage("large_1000x700_jpeg.jpg");
    assert.ok(big.length > MAX_UPLOAD);
    await page.setInputFiles("#file", { name: "large.jpg", mimeType: "image/jpeg", buffer: big });
    await caption(page);
    assert.match((await page.locator("#error").textContent()) ?? "", new RegExp(`Too large\\..*larger than ${MAX_UPLOAD} bytes.*HTTP 413`, "s"));

    // A full queue cannot be forced on the golden model in a test's time: the route answers as the server would.
    await page.route("**/v1/captions", (route) =>
      route.fulfill({ status: 503, headers: { "retry-after": "7" }, json: { error: { code: "queue_full", message: "the caption queue is full (64 waiting); the server is busy" } } }),
    );
    await page.setInputFiles("#file", png());
    await caption(page);
    assert.match((await page.locator("#error").textContent()) ?? "", /server is busy: its queue is full\. Try again in 7 s\..*the caption queue is full.*HTTP 503, queue_full/s);
    // The error goes once the next request works.
    await page.unroute("**/v1/captions");
    await caption(page);
    assert.equal((await shown(page)).error, "");
    assert.equal(await page.locator(".result").count(), 1);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("works from the keyboard alone: focus order, visible focus, choose a file, caption", async () => {
    const { page, problems } = await openPage(browser, base);
    // Listen before any key is pressed: the listener turns on Chromium's file-chooser interception, and
    // turning it on is not awaited, so a listener added just before the key press can miss the chooser.
    const chooser = new Promise<FileChooser>((resolve) => page.once("filechooser", resolve));
    // Browser-side code as strings: the tests compile for Node, without the DOM's types.
    const focused = () => page.evaluate<string>("document.activeElement?.id ?? ''");
    const order: string[] = [];
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      order.push(await focused());
      const outline = await page.evaluate<{ style: string; width: number }>(
        "(() => { const s = getComputedStyle(document.activeElement); return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; })()",
      );
      assert.ok(outline.style !== "none" && outline.width >= 2, `no visible focus on #${order.at(-1)}: ${JSON.stringify(outline)}`);
    }
    assert.deepEqual(order, [
      "docs-link", "key-summary", "file", "model",
      "opt-prompt", "opt-num_beams", "opt-num_return_sequences", "opt-max_new_tokens",
      "options-more-summary", "submit",
    ]);

    // Back to the file input, open the chooser with Space, then the options and the button by keyboard.
    await page.keyboard.press("Shift+Tab");
    for (let i = 0; i < 7 && (await focused()) !== "file"; i++) await page.keyboard.press("Shift+Tab");
    assert.equal(await focused(), "file");
    await page.keyboard.press("Space");
    const noChooser = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("Space on #file opened no file chooser in 30 s")), 30_000).unref());
    await (await Promise.race([chooser, noChooser])).setFiles(png());
    assert.equal(await page.locator("#previews li").count(), 1);
    await page.keyboard.press("Tab"); // model
    await page.keyboard.press("Tab"); // prompt
    await page.keyboard.press("Tab"); // num_beams
    assert.equal(await focused(), "opt-num_beams");
    await page.keyboard.type("3");
    await page.keyboard.press("Tab");
    await page.keyboard.type("3"); // num_return_sequences
    await page.keyboard.press("Tab");
    await page.keyboard.type("10"); // max_new_tokens
    await page.keyboard.press("Tab"); // "More options"
    await page.keyboard.press("Tab");
    assert.equal(await focused(), "submit");
    await page.keyboard.press("Enter");
    await page.locator(".result .caption-text").first().waitFor();
    assert.deepEqual(await page.locator(".result .caption-text").allTextContents(), expectedCaptions("beam3_return3"));
    assert.equal(await focused(), "submit", "the focus stays where the person left it");
    assert.equal(await page.locator("#results").getAttribute("aria-live"), "polite");
    await screenshot(page, "keyboard");
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe("the public page on a server with API keys", { skip: noChromium }, () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let key: string;
  before(async () => {
    t = await testApp();
    key = t.services.keys.create("user", "browser").key;
    base = await listen(t);
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.app.close();
  });

  test("asks for a key, keeps it for the tab, and captions with it", async () => {
    const { page, problems } = await openPage(browser, base);
    assert.match((await page.locator("#model-hint").textContent()) ?? "", /needs an API key/);
    await page.setInputFiles("#file", png());
    await caption(page);
    assert.match((await page.locator("#error").textContent()) ?? "", /needs an API key.*HTTP 401, missing_api_key/s);
    assert.equal(await page.locator("#key-box").getAttribute("open"), "", "the key field is opened");

    await page.fill("#api-key", key);
    await page.locator("#api-key").press("Tab"); // change → stored, models listed with the key
    await page.locator("#model option[value='blip']").waitFor({ state: "attached" });
    assert.equal(await page.evaluate("sessionStorage.getItem('captioner.apiKey')"), key);
    assert.equal(await page.locator("#key-summary").textContent(), "API key (set)");
    await caption(page);
    assert.equal((await shown(page)).error, "");
    assert.equal(await page.locator(".result .caption-text").count(), 1);

    // A reload in the same tab keeps the key; "Forget key" drops it.
    await page.reload();
    await page.locator("#model option[value='blip']").waitFor({ state: "attached" });
    assert.equal(await page.locator("#api-key").inputValue(), key);
    await page.locator("#key-summary").click();
    await page.click("#forget-key");
    assert.equal(await page.evaluate("sessionStorage.getItem('captioner.apiKey')"), null);
    assert.deepEqual(problems, []);
    await page.close();
  });
});

/** The picture ENRICHED describes: two royal-blue circles on crimson. */
function circles(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240"><rect width="320" height="240" fill="#dc143c"/><circle cx="110" cy="120" r="34" fill="#4169e1"/><circle cx="210" cy="120" r="34" fill="#4169e1"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Issue 12's response shape for one image (the tags/colours/description fields the page renders). */
const crimson = { hex: "#dc143c", rgb: [220, 20, 60], share: 0.8661, name: "crimson", family: "red" };
const royalblue = { hex: "#4169e1", rgb: [65, 105, 225], share: 0.1339, name: "royalblue", family: "blue" };
const ENRICHED = {
  model: "blip",
  results: [
    {
      captions: [{ text: "two small blue circles on a red background" }],
      tags: [
        { tag: "circle", score: 1, source: "noun" },
        { tag: "blue circle", score: 1, source: "adjective-noun" },
        { tag: "red", score: 0.866, source: "color" },
      ],
      colors: { palette: [crimson, royalblue], foreground: royalblue, background: crimson, accent: royalblue, grayscale: false },
      description: { style: "alt-text", text: "Two small blue circles on a red background.", llm: { used: false, reason: "not_configured", detail: "no LLM is configured" } },
    },
  ],
};
