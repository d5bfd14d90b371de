// culori through its one-file CommonJS build: ≈ 30 ms to load, where its ES-module source tree
// (≈ 200 files) took ≈ 300 ms of every start-up that imports the enrichment code. Same package, same code.
import { createRequire } from "node:module";

export const culori = createRequire(import.meta.url)("culori") as typeof import("culori");
