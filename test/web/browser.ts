// Headless Debian Chromium driven by playwright-core (never a downloaded browser), a listening test
// app for it to load, and screenshots as test artefacts in test-artifacts/web/.
import * as fs from "node:fs";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { repoRoot } from "../helpers/golden.js";
import type { TestApp } from "../helpers/app.js";

export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or false. .ci/run installs chromium, so CI never skips. */
export const noChromium: string | false = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`;

export const ARTIFACTS = path.join(repoRoot, "test-artifacts", "web");

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh profile (removed on close), offline apart from the loopback test server. */
export async function openBrowser(): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 860 },
    colorScheme: "light",
    reducedMotion: "reduce",
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Starts `t.app` on 127.0.0.1 (a free port); returns its base URL. */
export async function listen(t: TestApp): Promise<string> {
  await t.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = t.app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}/`;
}

/** A full-page screenshot as test-artifacts/web/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
