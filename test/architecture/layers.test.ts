// The layer map of the README as a test: each src/ folder imports only from the layers above it
// (and from itself), so the architecture cannot drift silently.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../helpers/golden.js";

/** Top to bottom; a folder may import from its own rank or a smaller one. */
const LAYERS: Readonly<Record<string, number>> = {
  engine: 0, preprocess: 1, models: 2, generation: 3,
  datasets: 4, metrics: 4, eval: 5, training: 6, enrich: 6, hub: 6,
  serving: 7, api: 8, web: 8, bench: 9, cli: 9, "index.ts": 10, "server.ts": 10,
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

test("every import in src/ points to the same layer or one above it", () => {
  const src = path.join(repoRoot, "src");
  const upward: string[] = [];
  for (const file of sources(src)) {
    const layerOf = (f: string) => path.relative(src, f).split(path.sep)[0]!;
    const own = layerOf(file);
    assert.ok(own in LAYERS, `src/${own} is not in the layer map; add it to the README and to LAYERS`);
    for (const [, spec] of fs.readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = layerOf(path.resolve(path.dirname(file), spec!));
      if (LAYERS[target]! > LAYERS[own]!) upward.push(`${path.relative(src, file)} → ${spec} (${own} imports ${target})`);
    }
  }
  assert.deepEqual(upward, []);
});
