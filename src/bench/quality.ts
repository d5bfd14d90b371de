// The quality cost of int8 (or 4-bit): cosine similarity of the vision output and of the first-step
// logits (quantised vs fp32) on a real-shaped random model, and greedy token agreement on the golden models.
// Usage: node dist/src/bench/quality.js [--shape base|large] [--quantize int8|int4]
import * as fs from "node:fs";
import * as path from "node:path";
import { ensureRandomModel } from "./random_models.js";
import { Captioner } from "../generation/captioner.js";
import type { Quantize } from "../engine/graph.js";

const shape = process.argv.includes("large") ? "large" : "base";
const mode: Quantize = process.argv.includes("int4") ? "int4" : "int8";
const golden = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../../shared/golden/blip");

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

async function pair(folder: string) {
  const load = (quantize: Quantize) => Captioner.load(folder, { lowering: { fused: true, quantize } });
  return [await load("none"), await load(mode)] as const;
}

// Real-shaped model, a photo-like input: vision states and first-step logits.
const [fp32, quantised] = await pair(ensureRandomModel(shape));
const S = fp32.model.imageSize;
const pixels = Float32Array.from({ length: 3 * S * S }, (_, i) => Math.sin(i / 97) + Math.cos(i / 1301));
async function outputs(c: Captioner) {
  const features = await c.model.encode(pixels, 1);
  return { vision: features.imageEmbeds.data as Float32Array, logits: await c.model.stepModel(features).step([c.model.promptIds(undefined)]) };
}
const [a, b] = [await outputs(fp32), await outputs(quantised)];
console.log(`${shape}: cosine(vision ${mode}, fp32) = ${cosine(b.vision, a.vision).toFixed(6)}; cosine(first-step logits) = ${cosine(b.logits, a.logits).toFixed(6)}`);
await Promise.all([fp32.release(), quantised.release()]);

// Golden models: greedy captions of every image, token by token.
let same = 0, total = 0, identical = 0, captions = 0;
for (const name of fs.readdirSync(golden).filter((n) => fs.existsSync(path.join(golden, n, "config.json")))) {
  const [a, b] = await pair(path.join(golden, name));
  const dir = path.join(golden, name, "images");
  const images = fs.readdirSync(dir).map((f) => new Uint8Array(fs.readFileSync(path.join(dir, f))));
  const [ra, rb] = [await a.caption(images), await b.caption(images)];
  ra.forEach((row, i) => {
    const x = row[0]!.ids, y = rb[i]![0]!.ids;
    captions++;
    if (x.join() === y.join()) identical++;
    x.forEach((t, j) => ((total += 1), (same += t === y[j] ? 1 : 0)));
  });
}
console.log(`golden models: ${identical}/${captions} greedy captions identical, token agreement ${(same / total).toFixed(4)}`);
