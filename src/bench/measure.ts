// `captioner bench`: times every phase of captioning on a real-shaped random model in this process
// (cold load first, then warm-up + N runs of each phase) and reports medians and peak RSS.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import type { LoweringOptions } from "../engine/graph.js";
import { openCheckpoint } from "../engine/checkpoint/index.js";
import { Captioner } from "../generation/captioner.js";
import { generate } from "../generation/generate.js";
import type { StepModel } from "../models/step_model.js";
import { ensureRandomModel } from "./random_models.js";

export interface BenchOptions {
  shape: string;
  lowering: LoweringOptions;
  batch: number;
  numBeams: number;
  runs: number;
  threads: number;
  /** Use this model folder instead of the generated random one. */
  folder?: string;
}

export interface Timing {
  median: number;
  min: number;
  max: number;
}

export interface BenchResult {
  shape: string;
  quantize: string;
  fused: boolean;
  batch: number;
  num_beams: number;
  runs: number;
  threads: number;
  load_s: number;
  preprocess_s: number;
  vision_s: number;
  first_token_s: number;
  per_token_s: number;
  caption20_s: number;
  timings: Record<"preprocess" | "vision" | "first_token" | "per_token" | "caption20", Timing>;
  images_per_s: number;
  peak_rss_mb: number;
  weights_mb: number;
  node: string;
  cpu: string;
}

const NEW_TOKENS = 20;

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const folder = o.folder ?? ensureRandomModel(o.shape);
  // The checkpoint's files, one or the shards (openCheckpoint picks them as loading does).
  const weightsBytes = openCheckpoint(folder, { maxInMemoryBytes: 0 }).files.reduce((sum, f) => sum + fs.statSync(f).size, 0);

  let t = performance.now();
  const captioner = await Captioner.load(folder, { threads: o.threads, lowering: o.lowering });
  const loadS = (performance.now() - t) / 1000;

  const jpeg = await syntheticJpeg(1000, 700);
  const preprocess = await repeat(o.runs, () => captioner.pixels([jpeg]));
  const one = await captioner.pixels([jpeg]);
  const pixels = new Float32Array(one.length * o.batch);
  for (let i = 0; i < o.batch; i++) pixels.set(one, i * one.length);

  const { model } = captioner;
  const vision = await repeat(o.runs, () => model.encode(pixels, o.batch));
  const options = { minNewTokens: NEW_TOKENS, maxNewTokens: NEW_TOKENS, numBeams: o.numBeams };
  const firstToken: number[] = [];
  const perToken: number[] = [];
  const caption = await repeat(o.runs, async () => {
    const features = await model.encode(pixels, o.batch);
    const steps: number[] = [];
    await generate(timed(model.stepModel(features), steps), new Array(o.batch).fill(model.promptIds(undefined)), model.special, options, captioner.defaults);
    firstToken.push(steps[0]!);
    perToken.push(steps.slice(1).reduce((a, b) => a + b, 0) / (steps.length - 1));
  });
  await captioner.release();
  const stats = { preprocess, vision, first_token: summarise(firstToken.slice(-o.runs)), per_token: summarise(perToken.slice(-o.runs)), caption20: caption };
  return {
    shape: o.shape, quantize: o.lowering.quantize, fused: o.lowering.fused, batch: o.batch, num_beams: o.numBeams, runs: o.runs, threads: o.threads,
    load_s: round(loadS), preprocess_s: round(preprocess.median), vision_s: round(vision.median),
    first_token_s: round(stats.first_token.median), per_token_s: round(stats.per_token.median), caption20_s: round(caption.median),
    timings: stats,
    images_per_s: round(o.batch / caption.median),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    weights_mb: Math.round(weightsBytes / 2 ** 20),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? "unknown",
  };
}

/** One warm-up call, then `runs` timed calls (seconds). */
async function repeat(runs: number, fn: () => Promise<unknown>): Promise<Timing> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return summarise(times);
}

function summarise(xs: number[]): Timing {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), min: round(s[0]!), max: round(s.at(-1)!) };
}

const round = (x: number) => Math.round(x * 1e5) / 1e5;

/** Records the seconds of every decoder step. */
function timed(model: StepModel, into: number[]): StepModel {
  return {
    vocabSize: model.vocabSize,
    maxPositions: model.maxPositions,
    get rows() {
      return model.rows;
    },
    async step(tokens) {
      const t = performance.now();
      const out = await model.step(tokens);
      into.push((performance.now() - t) / 1000);
      return out;
    },
    forward: (tokens) => model.forward(tokens),
    reorder: (order) => model.reorder(order),
  };
}

/** A 1000×700 photo-like JPEG (smooth gradients + noise), quality 85. */
async function syntheticJpeg(width: number, height: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(width * height * 3);
  let seed = 7;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = (seed >>> 24) % 24;
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width + noise;
      raw[i + 1] = (y * 255) / height + noise;
      raw[i + 2] = ((x + y) * 127) / (width + height) + noise;
    }
  }
  return new Uint8Array(await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer());
}
