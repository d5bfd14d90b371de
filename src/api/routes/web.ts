// The public web page at GET / and the admin console at GET /admin (src/web/page, built into dist/web
// by `npm run build`), served with @fastify/static. `wildcard: false` gives a route to each built file only, so every other path still
// answers the JSON 404, and /docs, /openapi.json and the API are untouched. The page is public; the
// API calls it makes carry the key pasted into it, under the API's own rules (the console's calls
// need an admin key; the page itself holds no data).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import { PAGE_CSP, PAGE_DIR, pageBuilt } from "../../web/assets.js";
import { ApiError } from "../plugins/errors.js";

export interface WebOptions {
  /** The built page's folder (default: dist/web beside the compiled server). */
  dir?: string;
}

export async function webRoutes(app: FastifyInstance, opts: WebOptions): Promise<void> {
  const dir = opts.dir ?? PAGE_DIR;
  app.addHook("onRequest", app.authorize("public"));
  if (!pageBuilt(dir)) {
    app.log.warn({ dir }, "the web page is not built (run `npm run build`); GET / answers 404");
    const notBuilt = async () => {
      throw new ApiError(404, "page_not_built", `the web page is not built in ${dir}: run \`npm run build\`; the API is at /docs`);
    };
    app.get("/", { schema: { hide: true } }, notBuilt);
    app.get("/admin", { schema: { hide: true } }, notBuilt);
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: "/",
    wildcard: false,
    index: "index.html",
    // swagger-ui registers @fastify/static too; this copy needs no reply.sendFile of its own.
    decorateReply: false,
    dotfiles: "ignore",
    cacheControl: false,
    setHeaders: pageHeaders,
  });
  // The console under its own path (the built file is admin.html, served as such too). No trailing
  // slash: the page's relative URLs (assets/…, v1/…) resolve against the service's root.
  app.get("/admin", { schema: { hide: true } }, async (_request, reply) => {
    const file = path.join(dir, "admin.html");
    const html = await fs.readFile(file).catch(() => {
      throw new ApiError(404, "page_not_built", `the admin console is not built in ${dir}: run \`npm run build\``);
    });
    pageHeaders(reply, file);
    return reply.type("text/html; charset=utf-8").send(html);
  });
}

/** Hashed assets never change under their name; index.html names them, so it is revalidated every time. */
function pageHeaders(reply: FastifyReply, file: string): void {
  reply.header("x-content-type-options", "nosniff");
  if (file.endsWith(".html")) {
    reply.header("cache-control", "no-cache");
    reply.header("content-security-policy", PAGE_CSP);
    reply.header("referrer-policy", "no-referrer");
  } else {
    reply.header("cache-control", "public, max-age=31536000, immutable");
  }
}
