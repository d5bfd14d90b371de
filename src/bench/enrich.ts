// What describing an image adds to a caption when no LLM is configured (issue 12's budget: ≤ 20 ms).
//
// 1. Added over a plain caption, end to end: POST /v1/captions on an in-process app with the golden
//    tiny BLIP model (3 beams, 3 captions returned), a plain request and a
//    features=caption,tags,colors,description one taken in turns (ABBA, so drift hits both alike);
//    "added" is what the second costs more, in wall time and in CPU time (all threads of the process).
//    The tiny model keeps the caption's own cost small, so the difference is not lost in its noise;
//    what enrichment does is the same as with a real model (its junk captions take compromise about
//    twice as long to parse as real ones: if anything, an overestimate).
// 2. The parts, with three new realistic captions every run (nothing is parsed twice).
// Usage: node dist/src/bench/enrich.js [--runs N] [--image FILE] [--json]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "../api/app.js";
import { openServices } from "../api/services.js";
import { Restyler, colorsOf, parseLlmConfig, sampleColors, tagsOf } from "../enrich/index.js";
import { decodeImage } from "../preprocess/image.js";
import { decodeImageRgba, rgbMatchesRgba } from "../preprocess/rgba.js";
import { loadServerConfig } from "../serving/config.js";

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(flag("--runs")) || 200;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const golden = path.resolve(repoRoot, "../shared/golden/blip/base_like_32px");
const imageFile = flag("--image") ?? path.join(golden, "images/large_1000x700_jpeg.jpg");
const bytes = new Uint8Array(fs.readFileSync(imageFile));
const FEATURES = "caption,tags,colors,description";

interface Stats {
  median_ms: number;
  p90_ms: number;
  cpu_median_ms: number;
}

const round = (ms: number) => Math.round(ms * 100) / 100;
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const quantile = (xs: readonly number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const stats = (wall: readonly number[], cpu: readonly number[]): Stats => ({ median_ms: round(quantile(wall, 0.5)), p90_ms: round(quantile(wall, 0.9)), cpu_median_ms: round(quantile(cpu, 0.5)) });

/** Wall and CPU milliseconds of one call. */
async function measure(run: () => unknown): Promise<[number, number]> {
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  await run();
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpuStart);
  return [wall, (used.user + used.system) / 1000];
}

// ---- 1. end to end -----------------------------------------------------------------------------

async function endToEnd() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-bench-enrich-"));
  const base = loadServerConfig({ env: {}, flags: { models: [`blip=${golden}`], dataDir } });
  // No batching window: each request runs at once, so the two kinds wait alike (not at all). One
  // onnxruntime thread: its pool's spin-waiting would add CPU time in proportion to wall time.
  const services = await openServices({ ...base, threads: 1, limits: { ...base.limits, batchWindowMs: 0 } }, { dbFile: ":memory:" });
  await services.registry.loadAll();
  const app = await buildApp({ services });
  const image = Buffer.from(bytes).toString("base64");
  const request = (features?: string) => async () => {
    const reply = await app.inject({ method: "POST", url: "/v1/captions", payload: { images: [image], options: { num_beams: 3, num_return_sequences: 3 }, ...(features && { features }) } });
    if (reply.statusCode !== 200) throw new Error(`POST /v1/captions answered ${reply.statusCode}: ${reply.body}`);
    return reply;
  };
  const plain = request();
  const described = request(FEATURES);
  const example = (await (await described()).json()) as { results: [{ captions: { text: string }[]; tags: unknown[] }] };
  for (let i = 0; i < 5; i++) {
    await plain();
    await described();
  }
  const wall = { plain: [] as number[], described: [] as number[], added: [] as number[] };
  const cpu = { plain: [] as number[], described: [] as number[], added: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const order = i % 4 === 0 || i % 4 === 3 ? ["plain", "described"] as const : ["described", "plain"] as const;
    const got: Record<string, [number, number]> = {};
    for (const kind of order) got[kind] = await measure(kind === "plain" ? plain : described);
    wall.plain.push(got.plain![0]);
    cpu.plain.push(got.plain![1]);
    wall.described.push(got.described![0]);
    cpu.described.push(got.described![1]);
    wall.added.push(got.described![0] - got.plain![0]);
    cpu.added.push(got.described![1] - got.plain![1]);
  }
  await app.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  const plainStats = stats(wall.plain, cpu.plain);
  const describedStats = stats(wall.described, cpu.described);
  return {
    plain: plainStats,
    described: describedStats,
    added: {
      /** Median described − median plain. */
      median_ms: round(describedStats.median_ms - plainStats.median_ms),
      /** Of the per-pair differences. */
      pair_median_ms: round(quantile(wall.added, 0.5)),
      pair_p90_ms: round(quantile(wall.added, 0.9)),
      cpu_median_ms: round(describedStats.cpu_median_ms - plainStats.cpu_median_ms),
    },
    captions: example.results[0].captions.map((c) => c.text),
    tags: example.results[0].tags.length,
  };
}

// ---- 2. the parts --------------------------------------------------------------------------------

/** Realistic captions, 1440 different ones: every run parses captions it has not seen. */
function captionPool(): string[] {
  const subjects = ["a woman", "a man", "two dogs", "a little girl", "an old man", "a black cat", "three children", "a red car"];
  const verbs = ["riding", "sitting on", "standing next to", "walking past", "looking at", "playing with"];
  const things = ["a bike", "a wooden bench", "a tall building", "a green field", "a small boat", "a large tree"];
  const places = ["on a city street", "in a park", "near the beach", "in front of a house", "under a blue sky"];
  return subjects.flatMap((s) => verbs.flatMap((v) => things.flatMap((t) => places.map((p) => `${s} ${v} ${t} ${p}`))));
}

async function parts() {
  const pool = captionPool();
  let next = 0;
  const captions = () => [0, 1, 2].map(() => pool[next++ % pool.length]!);
  const rgb = await decodeImage(bytes);
  const sample = sampleColors(rgb);
  const colors = colorsOf(sample);
  const restyler = new Restyler(parseLlmConfig({}, {}));
  const rows: Record<string, () => unknown> = {
    "RGB decode (the caption's own)": () => decodeImage(bytes),
    "RGBA decode (alpha images only)": () => decodeImageRgba(bytes),
    "sampleColors (in the decode hook)": () => sampleColors(rgb),
    "colorsOf(sample)": () => colorsOf(sample),
    "RGBA decode + colorsOf (the old path)": async () => colorsOf(await decodeImageRgba(bytes)),
    "tagsOf (3 new captions)": () => tagsOf(captions(), colors),
    "fallback description": () => restyler.describe({ caption: "a woman riding a bike", captions: ["a woman riding a bike"], tags: [], colors }, "alt-text"),
  };
  const out: Record<string, Stats & { first_ms: number }> = {};
  for (const [label, run] of Object.entries(rows)) {
    const [first] = await measure(run);
    for (let i = 0; i < 5; i++) await run();
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const [w, c] = await measure(run);
      wall.push(w);
      cpu.push(c);
    }
    out[label] = { first_ms: round(first), ...stats(wall, cpu) };
  }
  return out;
}

const rgb = await decodeImage(bytes);
const e2e = await endToEnd();
const rows = await parts();
const load = os.loadavg().map((l) => Math.round(l * 100) / 100);
const summary = { image: `${path.basename(imageFile)} ${rgb.width}x${rgb.height}`, colours_from_caption_decode: rgbMatchesRgba(bytes), runs, load_average: load, cpus: os.cpus().length, end_to_end: e2e, parts: rows };
if (args.includes("--json")) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  const cell = (name: string, v: number) => `${name} ${String(v).padStart(7)}`;
  const line = (label: string, s: Stats) => `${label.padEnd(36)} ${cell("median", s.median_ms)} ${cell("p90", s.p90_ms)} ${cell("cpu", s.cpu_median_ms)}`;
  console.log(`${summary.image}, ${runs} runs; colours from the caption's decode: ${summary.colours_from_caption_decode}; load average ${load.join(" ")} on ${summary.cpus} CPUs`);
  console.log(`POST /v1/captions, golden tiny model, 3 beams / 3 captions (wall ms; CPU ms of all threads):`);
  console.log(line("  plain caption", e2e.plain));
  console.log(line(`  features=${FEATURES}`, e2e.described));
  console.log(`  ADDED by the features: median ${e2e.added.median_ms} ms (per pair: median ${e2e.added.pair_median_ms}, p90 ${e2e.added.pair_p90_ms}), CPU ${e2e.added.cpu_median_ms} ms`);
  console.log(`  (the model's captions: ${JSON.stringify(e2e.captions)}, ${e2e.tags} tags)`);
  console.log(`The parts (a cold first call, then warm runs):`);
  for (const [label, s] of Object.entries(rows)) console.log(`${line(`  ${label}`, s)} ${cell("first", s.first_ms)}`);
}
