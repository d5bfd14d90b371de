// Runs `captioner bench --json` once per row, each in a fresh process (like the reference timings),
// and prints a Markdown table next to ../shared/golden/blip/reference_timings.json.
// Usage: node dist/src/bench/table.js [--runs N] [--rows base,base-int8,...] 
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../cli/main.js");
const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const runs = flag("--runs", "5");

const ROWS: Record<string, string[]> = {
  "base": ["--shape", "base"],
  "base-int8": ["--shape", "base", "--quantize", "int8"],
  "base-b8": ["--shape", "base", "--batch", "8"],
  "base-int8-b8": ["--shape", "base", "--quantize", "int8", "--batch", "8"],
  "base-beam3": ["--shape", "base", "--num-beams", "3"],
  "base-plain": ["--shape", "base", "--plain"],
  "large": ["--shape", "large"],
  "large-int8": ["--shape", "large", "--quantize", "int8"],
  "base-int4": ["--shape", "base", "--quantize", "int4"],
};
const wanted = flag("--rows", Object.keys(ROWS).join(",")).split(",");

const cols = ["load_s", "preprocess_s", "vision_s", "first_token_s", "per_token_s", "caption20_s", "images_per_s", "peak_rss_mb", "weights_mb"] as const;
console.log(`| row | ${cols.join(" | ")} | caption20 min–max |`);
console.log(`| --- | ${cols.map(() => "---").join(" | ")} | --- |`);
for (const row of wanted) {
  const out = execFileSync(process.execPath, [cli, "bench", ...ROWS[row]!, "--runs", runs, "--json"], { encoding: "utf8" });
  const r = JSON.parse(out);
  const t = r.timings.caption20;
  console.log(`| ${row} | ${cols.map((c) => r[c]).join(" | ")} | ${t.min}–${t.max} |`);
}
