// The security headers (@fastify/helmet) in a real browser: the web page at / and Swagger UI at
// /docs still load and work under them, with no Content-Security-Policy violation.
import test, { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { testApp, type TestApp } from "../helpers/app.js";
import { type Browser, listen, noChromium, openBrowser } from "./browser.js";

/** Opens `url`, collecting CSP violations and script errors. */
async function open(browser: Browser, url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || /Content.Security.Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript({ content: "document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`))" });
  const res = await page.goto(url);
  assert.equal(res?.status(), 200);
  return { page, problems };
}

describe("security headers in the browser", { skip: noChromium }, () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  before(async () => {
    t = await testApp();
    base = await listen(t);
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.app.close();
  });

  test("the web page loads its options from the server with no CSP violation", async () => {
    const { page, problems } = await open(browser, base);
    await page.locator("#opt-num_beams").waitFor();
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("/docs renders Swagger UI (the route list) with no CSP violation", async () => {
    const { page, problems } = await open(browser, `${base}docs`);
    await page.locator(".swagger-ui .opblock-summary-path").first().waitFor({ timeout: 15_000 });
    assert.ok((await page.locator(".swagger-ui .opblock").count()) > 10, "the routes are listed");
    assert.deepEqual(problems, []);
    await page.close();
  });
});
