// Test apps over the golden BLIP model (in-memory database), and multipart bodies for app.inject().
import * as fs from "node:fs";
import * as path from "node:path";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/api/app.js";
import { openServices, type Services, startJobHandlers } from "../../src/api/services.js";
import { loadServerConfig, type ServerConfig, type ServerLimits } from "../../src/serving/config.js";
import type { ModelLoader } from "../../src/serving/registry.js";
import type { HubOptions } from "../../src/hub/index.js";
import { blipCaseDir, readExpected } from "./golden.js";

export const GOLDEN_CASE = "base_like_32px";
export const goldenModel = blipCaseDir(GOLDEN_CASE);

/** A golden image file's bytes (`rgb_square.png`, …). */
export function goldenImage(file: string): Buffer {
  return fs.readFileSync(path.join(goldenModel, "images", file));
}

/** transformers' caption of the golden call `name` (what `BertTokenizerFast.batch_decode` gives). */
export function expectedCaptions(name: string): string[] {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const call = readExpected(GOLDEN_CASE).generation.find((g: any) => g.name === name);
  if (!call) throw new Error(`no golden generation call ${name}`);
  return call.decoded.fast_skip_special;
}

/** The golden model as `blip` (or `models`), with limit overrides. */
export function testConfig(opts: { limits?: Partial<ServerLimits>; models?: string[]; dataDir?: string } = {}): ServerConfig {
  const base = loadServerConfig({ env: {}, flags: { models: opts.models ?? [`blip=${goldenModel}`], ...(opts.dataDir && { dataDir: opts.dataDir }) } });
  return { ...base, limits: { ...base.limits, ...opts.limits } };
}

export interface TestApp {
  app: FastifyInstance;
  services: Services;
}

/**
 * An app with an in-memory database; models loaded first unless `load: false`. Close it with
 * `app.close()`. `dataDir`: where stored datasets keep their files (the default is never written by
 * tests that do not add dataset items).
 */
export async function testApp(opts: { limits?: Partial<ServerLimits>; models?: string[]; loader?: ModelLoader; load?: boolean; dataDir?: string; hub?: HubOptions } = {}): Promise<TestApp> {
  const services = await openServices(testConfig(opts), { dbFile: ":memory:", loader: opts.loader, hub: opts.hub });
  if (opts.load !== false) {
    await services.registry.loadAll();
    await startJobHandlers(services);
  }
  const app = await buildApp({ services });
  return { app, services };
}

export interface Part {
  name: string;
  value?: string;
  file?: { data: Uint8Array; filename?: string; type?: string };
}

/** A multipart/form-data body as curl -F builds it. */
export function multipart(parts: readonly Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----captionertest${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.file) head += `; filename="${part.file.filename ?? "upload.bin"}"\r\nContent-Type: ${part.file.type ?? "application/octet-stream"}`;
    chunks.push(Buffer.from(`${head}\r\n\r\n`), part.file ? Buffer.from(part.file.data) : Buffer.from(part.value ?? ""), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } };
}

/** The body of the PoC's curl command: `-F 'image=@example.jpeg;type=image/jpeg'`. */
export function pocUpload(data: Uint8Array, filename = "example.jpeg", type = "image/jpeg") {
  return multipart([{ name: "image", file: { data, filename, type } }]);
}
