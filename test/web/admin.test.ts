// The admin console at /admin in a real browser (Debian's Chromium through playwright-core) against
// buildApp() with the golden BLIP model: log in (401 and 403 explained), create a dataset, add items,
// draft their captions (followed through the job's server-sent events), review the drafts with the keyboard, evaluate, fetch the report; then the
// dataset view's edit and delete; train a version and promote it. Everything the page shows is checked
// against the API's own answers.
// Screenshots go to test-artifacts/web/.
import test, { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { zipSync } from "fflate";
import type { Page } from "playwright-core";
import { testApp, type TestApp } from "../helpers/app.js";
import { shapesRoot } from "../helpers/shapes.js";
import { type Browser, listen, noChromium, openBrowser, screenshot } from "./browser.js";

const shape = (split: string, i: number) => {
  const name = `${String(i).padStart(6, "0")}.png`;
  return { name, mimeType: "image/png", buffer: fs.readFileSync(path.join(shapesRoot, split, name)) };
};

interface Item {
  id: string;
  split: string;
  captions: string[];
  reviewed: boolean;
}

describe("the admin console", { skip: noChromium }, () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  let dataDir: string;
  let adminKey: string;
  let userKey: string;
  const problems: string[] = [];

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-admin-page-"));
    t = await testApp({ dataDir });
    adminKey = t.services.keys.create("admin", "console").key;
    userKey = t.services.keys.create("user", "not an admin").key;
    base = await listen(t);
    browser = await openBrowser();
    page = await browser.context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
    });
    page.on("dialog", (d) => void d.accept()); // the delete confirmation
  });
  after(async () => {
    await browser?.close();
    await t?.app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const api = async (url: string) => {
    const res = await t.app.inject({ url, headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  const items = async (): Promise<Item[]> => (await api("/v1/datasets/shapes/items?limit=1000")).items;
  const text = async (selector: string) => (await page.locator(selector).textContent()) ?? "";
  const focused = () => page.evaluate<string>("document.activeElement?.id ?? ''");
  /** Waits for a job row of `kind` to settle and returns the job as GET /v1/jobs/{id} shows it. */
  async function settledJob(kind: string, timeout = 30_000) {
    const row = page.locator(`#job-rows tr:has(.job-kind:text-is("${kind}"))`).first();
    await page.locator(`#job-rows tr[data-state="done"]:has(.job-kind:text-is("${kind}")), #job-rows tr[data-state="failed"]:has(.job-kind:text-is("${kind}"))`).first().waitFor({ timeout });
    return { row, job: await api(`/v1/jobs/${await row.getAttribute("data-id")}`) };
  }

  test("log in: an unknown key is 401, a user's key 403, both explained; an admin key opens the console", async () => {
    const res = await t.app.inject({ url: "/admin" });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-security-policy"] as string, /default-src 'self'/);
    assert.doesNotMatch(res.body, /https?:\/\//, "nothing from another origin (no CDN)");

    await page.goto(`${base}admin`);
    assert.equal(await focused(), "admin-key");
    await page.fill("#admin-key", "not-a-key");
    await page.keyboard.press("Enter");
    await page.locator("#login-error .error-message").waitFor();
    assert.match(await text("#login-error"), /Paste a key this server knows.*unknown or revoked.*HTTP 401, invalid_api_key/s);

    await page.fill("#admin-key", userKey);
    await page.click("#login");
    await page.locator("#login-error :text('admin role')").waitFor();
    assert.match(await text("#login-error"), /needs a key with the admin role.*your key has the user role.*HTTP 403/s);
    assert.equal(await page.evaluate("sessionStorage.getItem('captioner.apiKey')"), null, "a refused key is not kept");
    assert.equal(await page.locator("#console").isVisible(), false);
    await screenshot(page, "admin-login-403");

    await page.fill("#admin-key", adminKey);
    await page.click("#login");
    await page.locator("#console").waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('captioner.apiKey')"), adminKey);
    assert.deepEqual(await page.locator("nav[aria-label='Console'] button").allTextContents(), ["Datasets", "Review", "Jobs", "Versions"]);
    assert.equal(await page.locator("#nav-datasets").getAttribute("aria-current"), "page");
    // The key is kept for the tab: a reload logs in by itself.
    await page.reload();
    await page.locator("#console").waitFor();
    assert.deepEqual(problems, []);
  });

  test("create a dataset and add items (image, captions, split) through the page", async () => {
    await page.click("#nav-datasets");
    await page.fill("#dataset-name", "shapes");
    await page.click("#create-dataset-button");
    await page.locator("#dataset-title:text-is('Dataset shapes')").waitFor();
    assert.equal(await focused(), "dataset-title");
    for (let i = 0; i < 3; i++) {
      await page.setInputFiles("#item-file", shape("validation", i));
      await page.selectOption("#item-split", "validation");
      await page.click("#add-item-button");
      await page.locator(`#items .item >> nth=${i}`).waitFor();
    }
    // One with a human caption, in train.
    await page.setInputFiles("#item-file", shape("train", 0));
    await page.fill("#item-captions", "a human caption\nanother one");
    await page.selectOption("#item-split", "train");
    await page.click("#add-item-button");
    await page.locator("#items .item >> nth=3").waitFor();

    const stored = await items();
    assert.deepEqual(stored.map((i) => [i.split, i.captions]), [["validation", []], ["validation", []], ["validation", []], ["train", ["a human caption", "another one"]]]);
    assert.deepEqual(await page.locator("#items .item").evaluateAll((els) => els.map((e) => e.getAttribute("data-id"))), stored.map((i) => i.id));
    assert.deepEqual(await page.locator("#items .item >> nth=3 >> .item-captions li").allTextContents(), ["a human caption", "another one"]);
    assert.match(await text("#dataset-rows"), /shapes\s*4/);
    assert.deepEqual(problems, []);
  });

  test("draft with the golden model, then review the drafts by keyboard: j/k move, a accepts, e edits, r rejects", async () => {
    await page.click("#nav-jobs");
    await page.selectOption("#job-kind", "draft");
    await page.selectOption("#job-dataset", "shapes");
    assert.equal(await page.locator("#job-model").inputValue(), "blip");
    const stream = page.waitForResponse((r) => r.url().endsWith("/events"));
    await page.click("#job-start");
    const { row, job } = await settledJob("draft");
    // Followed live through the job's server-sent events (not by polling).
    assert.equal((await stream).url(), `${base}v1/jobs/${job.id}/events`);
    assert.match((await stream).headers()["content-type"] ?? "", /^text\/event-stream/);
    await page.locator(`#status:text-is("draft job ${job.id} is done.")`).waitFor();
    assert.equal(job.state, "done", JSON.stringify(job));
    assert.equal(job.result.drafted, 3);
    assert.match((await row.textContent()) ?? "", /done.*100 %.*3 of 3 drafted/s);
    assert.equal(await row.locator("progress").getAttribute("value"), "100");

    // The queue, oldest first: the three drafts, then the human captions (not reviewed either).
    const drafts = (await items()).filter((i) => !i.reviewed && i.captions.length > 0);
    assert.deepEqual(drafts.map((i) => i.split), ["validation", "validation", "validation", "train"]);
    await page.click("#nav-review");
    await page.selectOption("#review-dataset", "shapes");
    await page.locator("#review-card").waitFor();
    assert.equal(await focused(), "review-card", "the queue takes the focus, so the keys work at once");
    assert.match(await text("#status"), /4 items of shapes to review/);
    assert.equal(await page.locator("#status").getAttribute("aria-live"), "polite");
    /** The card shows draft `i`, as item `at` of the queue as it is now. */
    const showsItem = async (i: number, at = i) => {
      assert.match(await text("#review-position"), new RegExp(`Item ${at + 1} of \\d · ${drafts[i]!.split} · ${drafts[i]!.id}`));
      assert.deepEqual(await page.locator("#review-captions li").allTextContents(), drafts[i]!.captions);
    };
    await showsItem(0);
    await page.waitForFunction("document.querySelector('#review-image').naturalWidth > 0");
    await screenshot(page, "admin-review");
    await page.keyboard.press("j");
    await showsItem(1);
    await page.keyboard.press("k");
    await showsItem(0);

    await page.keyboard.press("a"); // accept the first draft
    await page.locator("#status:has-text('Accepted item')").waitFor();
    assert.match(await text("#status"), new RegExp(`Accepted item ${drafts[0]!.id}\\. 3 left\\.`));
    assert.match(await text("#review-position"), /Item 1 of 3/);

    await page.keyboard.press("e"); // edit the second
    assert.equal(await focused(), "review-text");
    assert.equal(await page.locator("#review-text").inputValue(), drafts[1]!.captions.join("\n"));
    await page.keyboard.press("a"); // typed into the field, not a shortcut
    assert.equal(await page.locator("#review-card").isVisible(), true);
    await page.fill("#review-text", "a shape on a plain background\nsecond caption");
    await page.keyboard.press("Control+Enter");
    await page.locator("#status:has-text('Edited and accepted')").waitFor();

    await page.keyboard.press("r"); // reject the third
    await page.locator("#status:has-text('Rejected item')").waitFor();
    assert.match(await text("#status"), /1 left\./);
    await showsItem(3, 0);
    await page.keyboard.press("a"); // the human captions
    await page.locator("#status:has-text('The queue is empty.')").waitFor();
    assert.equal(await page.locator("#review-card").isVisible(), false);

    const after = new Map((await items()).map((i) => [i.id, i]));
    assert.deepEqual(after.get(drafts[0]!.id), { ...after.get(drafts[0]!.id), captions: drafts[0]!.captions, reviewed: true });
    assert.deepEqual(after.get(drafts[1]!.id)!.captions, ["a shape on a plain background", "second caption"]);
    assert.equal(after.get(drafts[1]!.id)!.reviewed, true);
    assert.deepEqual(after.get(drafts[2]!.id)!.captions, []);
    assert.equal(after.get(drafts[2]!.id)!.reviewed, false);
    assert.equal(after.get(drafts[3]!.id)!.reviewed, true);
    assert.deepEqual(problems, []);
  });

  test("an eval job shows its progress, CIDEr-D and the report; the report is the server's", async () => {
    await page.click("#nav-jobs");
    await page.selectOption("#job-kind", "eval");
    assert.equal(await page.locator("#job-overwrite").isVisible(), false);
    assert.equal(await page.locator("#job-reviewed").isChecked(), true);
    await page.selectOption("#job-dataset", "shapes");
    await page.selectOption("#job-split", "validation");
    await page.click("#job-start");
    const { row, job } = await settledJob("eval");
    assert.equal(job.state, "done", JSON.stringify(job));
    assert.equal(job.result.n, 2, "the two reviewed validation items");
    assert.match((await row.textContent()) ?? "", new RegExp(`2 items validation, CIDEr-D ${job.result.coco.CIDEr.toFixed(3)}`));
    const link = row.locator("a.report-link[href^='blob:']");
    await link.waitFor();
    assert.equal(await link.getAttribute("download"), `eval-report-${job.id}.html`);
    const served = await t.app.inject({ url: job.result.report, headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(served.statusCode, 200);
    // What the person gets by clicking: the download, byte for byte the server's report.
    const download = page.waitForEvent("download");
    await link.click();
    const file = await (await download).path();
    assert.equal(fs.readFileSync(file, "utf8"), served.body);
    assert.match(served.body, /CIDEr/);

    // The per-item CIDEr-D histogram (uPlot on a canvas), its numbers also as text.
    await row.getByRole("button", { name: `CIDEr-D histogram of eval job ${job.id}` }).click();
    const figure = page.locator("#job-chart figure[data-chart='cider-histogram']");
    await figure.waitFor();
    assert.equal(await focused(), "job-chart");
    const scores: number[] = job.result.items.map((i: { coco: { CIDEr: number } }) => i.coco.CIDEr);
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    assert.equal(
      await figure.locator("figcaption").textContent(),
      `Eval job ${job.id}: CIDEr-D of 2 items, mean ${mean.toFixed(3)}, from ${Math.min(...scores).toFixed(3)} to ${Math.max(...scores).toFixed(3)}`,
    );
    const counts = (await figure.locator("table.chart-data tbody tr td:nth-child(3)").allTextContents()).map(Number);
    assert.equal(counts.length, 10);
    assert.equal(counts.reduce((a, b) => a + b, 0), 2);
    assert.ok((await figure.locator("canvas").boundingBox())!.width > 300, "the chart is drawn");
    await screenshot(page, "admin-jobs");

    // Cancel is offered for queued and running jobs only; a finished one has no button.
    assert.equal(await row.getByRole("button", { name: /^Cancel/ }).count(), 0);
    assert.deepEqual(problems, []);
  });

  test("the dataset view: thumbnails, edit an item's captions, delete an item", async () => {
    await page.click("#nav-datasets");
    await page.getByRole("button", { name: "Open shapes" }).click();
    await page.locator("#items .item >> nth=3").waitFor();
    await page.waitForFunction("[...document.querySelectorAll('#items .item-image')].every((img) => img.naturalWidth > 0)");
    assert.equal(await page.locator("#items .item-image").count(), 4);
    await screenshot(page, "admin-datasets");

    const [first, , third] = await items();
    const card = page.locator(`#items .item[data-id="${first!.id}"]`);
    await card.getByRole("button", { name: /^Edit the captions/ }).click();
    assert.match(await focused(), /^edit-/);
    await card.locator("textarea").fill("an edited caption");
    await card.getByRole("button", { name: /^Save/ }).click();
    await card.locator(".item-captions li:text-is('an edited caption')").waitFor();
    assert.deepEqual((await items())[0]!.captions, ["an edited caption"]);

    await page.locator(`#items .item[data-id="${third!.id}"]`).getByRole("button", { name: /^Delete/ }).click();
    await page.locator(`#status:has-text('Item ${third!.id} deleted')`).waitFor();
    assert.equal(await page.locator(`#items .item[data-id="${third!.id}"]`).count(), 0);
    assert.deepEqual((await items()).map((i) => i.id).includes(third!.id), false);
    assert.deepEqual(problems, []);
  });

  test("train a version on the reviewed items, see it under Versions with its curves, promote it", async () => {
    await page.click("#nav-jobs");
    await page.selectOption("#job-kind", "train");
    assert.equal(await page.locator("#job-split").isVisible(), false);
    await page.selectOption("#job-dataset", "shapes");
    await page.fill("#job-epochs", "1");
    await page.fill("#job-steps", "1");
    await page.click("#job-start");
    const { row, job } = await settledJob("train", 120_000);
    assert.equal(job.state, "done", JSON.stringify(job));
    const version = job.result.id as string;
    assert.match((await row.textContent()) ?? "", new RegExp(`version ${version}`));

    await page.click("#nav-versions");
    await page.selectOption("#versions-model", "blip");
    await page.click("#versions-load");
    const vrow = page.locator(`#version-rows tr[data-id="${version}"]`);
    await vrow.waitFor();
    const listed = (await api("/v1/admin/models/blip/versions")).versions.find((v: { id: string }) => v.id === version);
    const cider = (s: { CIDEr?: number }) => (typeof s?.CIDEr === "number" ? s.CIDEr.toFixed(3) : "–");
    assert.match((await vrow.textContent()) ?? "", new RegExp(`shapes.*${cider(listed.validation.before)} → ${cider(listed.validation.after)}`, "s"));
    await vrow.getByRole("button", { name: `Training curves of version ${version}` }).click();
    assert.equal(await page.locator("#version-chart table.chart-data tbody tr").count(), listed.validation.epochs.length);

    // Promote: the gate may pass or refuse a one-step version; refused, it is promoted with a reason.
    await vrow.getByRole("button", { name: `Promote version ${version}` }).click();
    await page.locator(`#status:has-text("now serves version ${version}"), #override-field:visible`).first().waitFor({ timeout: 60_000 });
    if (await page.locator("#override-field").isVisible()) {
      assert.match(await text("#error"), /gate_refused/);
      await page.fill("#override-reason", "browser test: a one-step version");
      await vrow.getByRole("button", { name: `Promote version ${version}` }).click();
      await page.locator(`#status:has-text("now serves version ${version}")`).waitFor({ timeout: 60_000 });
    }
    assert.equal((await api("/v1/admin/models/blip/versions")).serving, version);
    assert.match(await text("#versions-serving"), new RegExp(`blip serves version ${version}`));
    assert.deepEqual(problems, []);
  });

  // What a real run does not reliably show in a test's time: a refusal of the gate with its reasons
  // (a one-step version may pass or not) and a job still running when Cancel is pressed. These two
  // tests answer those routes with fixed bodies in the routes' shapes (page.route).
  test("versions (contract answers): CIDEr-D before → after, latency, a promotion refused by the gate, then overridden with a reason", async () => {
    const version = {
      id: "v-0001", model: "blip", base: { model: "blip", version: null }, dataset: "shapes", jobId: "job-1",
      snapshot: { sha256: "00", trainItems: 2, validationItems: 2, reviewedOnly: true }, settings: { epochs: 2 },
      validation: { before: { CIDEr: 0.5 }, after: { CIDEr: 0.8 }, epochs: [{ CIDEr: 0.7 }, { CIDEr: 0.8 }], bestEpoch: 2, trainLoss: [2.1, 1.4], steps: 4 },
      latency: { candidateMs: 120.4, servingMs: 99.6, servingVersion: null, images: 2, runs: 3, measuredAt: "2026-11-30T16:00:00Z" },
      createdAt: "2026-11-30T16:00:00Z", promotedAt: null, serving: false,
    };
    let serving: string | null = null;
    await page.route("**/v1/admin/models/blip/versions", (route) =>
      route.fulfill({ json: { model: "blip", serving, versions: [{ ...version, serving: serving === version.id }] } }),
    );
    const promotions: unknown[] = [];
    await page.route("**/v1/admin/models/blip/promote", async (route) => {
      const body = route.request().postDataJSON();
      promotions.push(body);
      if (!body.override_reason) {
        await route.fulfill({ status: 409, json: { error: { code: "gate_refused", message: "version v-0001 did not pass the gate", reasons: ["latency 120 ms is more than 110 % of the serving model's 100 ms"] } } });
        return;
      }
      serving = version.id;
      await route.fulfill({ json: { version: { ...version, serving: true }, previous: null, unchanged: false, gate: null } });
    });
    await page.click("#nav-versions");
    await page.selectOption("#versions-model", "blip");
    await page.click("#versions-load");
    const row = page.locator("#version-rows tr[data-id='v-0001']");
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /v-0001.*shapes.*0\.500 → 0\.800.*120 vs 100/s);
    assert.match(await text("#versions-serving"), /blip serves its configured source/);

    await row.getByRole("button", { name: "Promote version v-0001" }).click();
    await page.locator("#override-field").waitFor();
    assert.match(await text("#error"), /version v-0001 did not pass the gate.*HTTP 409, gate_refused.*latency 120 ms is more than/s);
    assert.equal(await focused(), "override-reason");
    await page.fill("#override-reason", "latency measured on a busy machine");
    await row.getByRole("button", { name: "Promote version v-0001" }).click();
    await page.locator("#status:has-text('blip now serves version v-0001')").waitFor();
    assert.deepEqual(promotions, [{ version: "v-0001" }, { version: "v-0001", override_reason: "latency measured on a busy machine" }]);
    assert.match(await text("#version-rows"), /v-0001 serving/);
    assert.equal(await row.getByRole("button", { name: /^Promote/ }).count(), 0, "the serving version has nothing to promote");
    assert.equal(await text("#error"), "");
    await row.getByRole("button", { name: "Training curves of version v-0001" }).click();
    const curves = page.locator("#version-chart figure[data-chart='epoch-curves']");
    await curves.waitFor();
    assert.equal(await curves.locator("figcaption").textContent(), "Version v-0001: training loss and validation CIDEr-D over 2 epochs");
    assert.deepEqual(await curves.locator("table.chart-data tbody tr").allTextContents(), ["12.10000.700", "21.40000.800"]);
    assert.ok((await curves.locator("canvas").boundingBox())!.width > 300);
    await screenshot(page, "admin-versions");
    await page.unrouteAll();
    assert.deepEqual(problems, []);
  });

  test("cancel (contract answers): a running job offers Cancel, and its row shows the cancelled job", async () => {
    const job = { id: "train-1", kind: "train", state: "running", progress: 0.4, result: null, error: null, attempts: 1, createdAt: "2026-11-30T16:00:00Z", updatedAt: "2026-11-30T16:00:05Z" };
    let state = "running";
    await page.route(/\/v1\/admin\/jobs\?limit=20$/, (route) => route.fulfill({ json: { jobs: [{ ...job, state }] } }));
    await page.route("**/v1/jobs/train-1", (route) => route.fulfill({ json: { ...job, state } }));
    await page.route("**/v1/jobs/train-1/cancel", (route) => {
      state = "cancelled";
      return route.fulfill({ json: { ...job, state } });
    });
    await page.click("#nav-jobs");
    const row = page.locator("#job-rows tr[data-id='train-1']");
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /running.*40 %/s);
    await row.getByRole("button", { name: "Cancel train job train-1" }).click();
    await page.locator("#job-rows tr[data-id='train-1'][data-state='cancelled']").waitFor();
    assert.equal(await page.locator("#job-rows tr[data-id='train-1'] button").count(), 0);
    assert.match(await text("#status"), /train job train-1 cancelled/);
    await page.unrouteAll();
    assert.deepEqual(problems, []);
  });

  test("import a zip of an imagefolder into a new dataset; the page follows the job and shows the items", async () => {
    await page.click("#nav-datasets");
    await page.fill("#dataset-name", "imported");
    await page.click("#create-dataset-button");
    await page.locator("#dataset-title:text-is('Dataset imported')").waitFor();
    const [a, b] = [shape("train", 0), shape("validation", 0)];
    const metadata = [
      { file_name: `train/${a.name}`, text: "an imported caption" },
      { file_name: `validation/${b.name}`, captions: ["one", "two"] },
    ].map((row) => JSON.stringify(row)).join("\n");
    const zip = zipSync({ "metadata.jsonl": new TextEncoder().encode(metadata), [`train/${a.name}`]: a.buffer, [`validation/${b.name}`]: b.buffer });
    await page.setInputFiles("#import-file", { name: "set.zip", mimeType: "application/zip", buffer: Buffer.from(zip) });
    await page.click("#import-button");
    await page.locator("#status:has-text('Import into imported done: 2 items added, 0 skipped.')").waitFor({ timeout: 30_000 }).catch(async (e) => {
      throw new Error(`${e}; status: ${await text("#status")}; error: ${await text("#error")}`);
    });
    await page.locator("#items .item >> nth=1").waitFor();
    const stored: Item[] = (await api("/v1/datasets/imported/items?limit=10")).items;
    assert.deepEqual(stored.map((i) => [i.split, i.captions, i.reviewed]).sort(), [["train", ["an imported caption"], true], ["validation", ["one", "two"], true]]);
    assert.equal(await page.locator("#items .item").count(), 2);

    // Neither a file nor a repo (or both): the page says what to send and sends nothing.
    await page.click("#import-button");
    await page.locator("#status:has-text('Choose a file or name a hub dataset repo')").waitFor();
    assert.deepEqual(problems, []);
  });

  test("log out forgets the key", async () => {
    await page.click("#logout");
    assert.equal(await page.evaluate("sessionStorage.getItem('captioner.apiKey')"), null);
    assert.equal(await page.locator("#login-form").isVisible(), true);
    assert.equal(await focused(), "admin-key");
  });
});
