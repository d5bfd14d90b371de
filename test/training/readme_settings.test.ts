// The README's training settings table is written from the settings table (src/training/options.ts):
// every row there, with its flag and default, must be in the README as rendered here.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TRAINING_SETTINGS } from "../../src/training/options.js";
import { repoRoot } from "../helpers/golden.js";

const shown = (v: unknown) => (v === null || v === undefined ? "—" : Array.isArray(v) ? `(${v.join(", ")})` : typeof v === "number" && v >= 1024 ** 3 ? `${v / 1024 ** 3} GiB` : String(v));

export function settingsRows(): string[] {
  return Object.entries(TRAINING_SETTINGS).map(([key, s]) => `| \`${key}\` | ${s.flag ? `\`${s.flag.split(" ")[0]}\`` : ""} | ${shown(s.default)} | ${s.help} |`);
}

test("the README lists every training setting with its flag and default", () => {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const missing = settingsRows().filter((row) => !readme.includes(row));
  assert.deepEqual(missing, [], `README rows to update:\n${missing.join("\n")}`);
});
