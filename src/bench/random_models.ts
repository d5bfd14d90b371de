// The benchmark's real-shaped checkpoints with random weights, written once into the user's cache.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { RANDOM_SHAPES } from "../models/index.js";

const FORMAT = "captioner-random-model/1";

/** Names of the shapes `captioner bench --shape` accepts. */
export const BENCH_SHAPES = Object.keys(RANDOM_SHAPES);

/** Where the benchmark models live: `$XDG_CACHE_HOME/captioner/bench/<shape>`. */
export function benchModelDir(shape: string): string {
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");
  return path.join(cache, "captioner", "bench", shape);
}

/**
 * The folder of a random `shape` model. Written on first use in a child process, so that the memory
 * of writing it never shows in the benchmark's peak RSS.
 */
export function ensureRandomModel(shape: string, folder = benchModelDir(shape)): string {
  const marker = path.join(folder, "random_model.json");
  if (fs.existsSync(marker)) {
    const written = JSON.parse(fs.readFileSync(marker, "utf8")) as { format?: string; shape?: string };
    if (written.format === FORMAT && written.shape === shape) return folder;
  }
  if (!RANDOM_SHAPES[shape]) throw new Error(`unknown benchmark shape "${shape}"; known: ${BENCH_SHAPES.join(", ")}`);
  execFileSync(process.execPath, [fileURLToPath(import.meta.url), shape, folder], { stdio: "inherit" });
  return folder;
}

// Child process: `node random_models.js SHAPE FOLDER` writes the folder and its marker.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [shape, folder] = process.argv.slice(2) as [string, string];
  fs.mkdirSync(folder, { recursive: true });
  RANDOM_SHAPES[shape]!(folder, 1234);
  fs.writeFileSync(path.join(folder, "random_model.json"), JSON.stringify({ format: FORMAT, shape }));
}
