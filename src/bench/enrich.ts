// What enrichment adds to a caption when no LLM is configured: colours + tags + the fallback
// description, on a decoded 1000×700 JPEG photo with three beam captions. Decoding is not timed
// (captioning has already decoded the image). Budget (issue 12): ≤ 20 ms per image.
// Usage: node dist/src/bench/enrich.js [--runs N] [--json]
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Restyler, colorsOf, enrichAndDescribe, parseLlmConfig, tagsOf } from "../enrich/index.js";
import { decodeImage } from "../preprocess/image.js";

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1]) || 200;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const photo = path.resolve(repoRoot, "../shared/golden/blip/base_like_32px/images/large_1000x700_jpeg.jpg");
const image = await decodeImage(readFileSync(photo));
const captions = ["a woman riding a bike down a street next to a tall building", "a woman riding a bicycle on a city street", "a person on a bike in front of a building"];
// No baseURL: the LLM is off and the description is the deterministic fallback.
const restyler = new Restyler(parseLlmConfig({}, {}));

interface Row {
  label: string;
  first_ms: number;
  median_ms: number;
  p95_ms: number;
  min_ms: number;
  /** CPU time (user + system, all threads) per run: what the work costs when the machine is shared. */
  cpu_median_ms: number;
}

async function time(label: string, run: () => unknown): Promise<Row> {
  let started = performance.now();
  await run();
  const first = performance.now() - started;
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cpuStart = process.cpuUsage();
    started = performance.now();
    await run();
    wall.push(performance.now() - started);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const round = (ms: number) => Math.round(ms * 100) / 100;
  wall.sort((a, b) => a - b);
  return {
    label,
    first_ms: round(first),
    median_ms: round(median(wall)),
    p95_ms: round(wall[Math.floor(runs * 0.95)]),
    min_ms: round(wall[0]),
    cpu_median_ms: round(median(cpu)),
  };
}

const colors = colorsOf(image);
const rows = [
  await time("colorsOf", () => colorsOf(image)),
  await time("tagsOf (3 captions)", () => tagsOf(captions, colors)),
  await time("enrich + fallback description", () => enrichAndDescribe(image, captions, restyler, { style: "alt-text" })),
];
if (args.includes("--json")) {
  console.log(JSON.stringify({ image: `${image.width}x${image.height}`, runs, rows }, null, 2));
} else {
  console.log(`${image.width}×${image.height} photo, ${runs} runs after one cold run (wall ms, and CPU ms per run)`);
  const cell = (name: string, v: number) => `${name} ${String(v).padStart(7)}`;
  for (const r of rows) {
    console.log(`${r.label.padEnd(31)} ${cell("first", r.first_ms)} ${cell("median", r.median_ms)} ${cell("p95", r.p95_ms)} ${cell("min", r.min_ms)} ${cell("cpu", r.cpu_median_ms)}`);
  }
}
