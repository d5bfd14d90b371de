// Where the built page lives. `npm run build` compiles src/web/page (browser code, its own
// tsconfig) with Vite into dist/web/, beside the compiled server in dist/src/; this module is
// compiled to dist/src/web/assets.js, so the page is two folders up from here.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The folder of the built public page (index.html + hashed assets/). */
export const PAGE_DIR = fileURLToPath(new URL("../../web/", import.meta.url));

/** Whether `npm run build` has produced the page (a bare `tsc -p .` does not). */
export function pageBuilt(dir = PAGE_DIR): boolean {
  return fs.existsSync(path.join(dir, "index.html"));
}

/**
 * The page's Content-Security-Policy: everything from this server only (no CDN), images also from
 * blob:/data: URLs (previews of the chosen files). Vite emits no inline script or style, and the
 * page sets swatch colours through the CSSOM, which style-src does not restrict.
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
