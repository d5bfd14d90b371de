// The training step's benchmark: compiles a TrainingStep of a tiny or real-shaped BLIP, feeds it
// realistic batches (shapes-dataset images; captions from the dataset, or T random tokens), and
// times forward+backward and the AdamW update separately (median of N after a warm-up). With the
// vision tower frozen the step gets cached image features, computed once outside the timing, as
// training does. Prints peak RSS (the whole process: model, graphs, onnxruntime's buffers).
//
//   node dist/src/bench/train_step.js [--shape tiny|base] [--batch N] [--tokens T] [--steps N]
//       [--warmup N] [--threads N] [--train-vision] [--spinning on|off] [--mem-arena on|off] [--json]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readSplit } from "../datasets/imagefolder.js";
import { loadTrainableModel } from "../models/index.js";
import { concatFloat32, defaultImageProcessorConfig, parseImageProcessorConfig, preprocessImage } from "../preprocess/image_processor.js";
import { loadTokenizer } from "../preprocess/tokenizers.js";
import { AdamW } from "../training/optimizer.js";
import { type CaptionBatch, type StepImages, TrainingStep } from "../training/train_graph.js";
import { ensureRandomModel } from "./random_models.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** ../shared next to the repository (the golden models and the shapes dataset), or $CAPTIONER_SHARED. */
const shared = process.env.CAPTIONER_SHARED ?? path.resolve(here, "../../../../shared");
const SHAPES_TRAIN = path.join(shared, "datasets/shapes/train");

/** `tiny`: the golden 32 px model the shapes recipe trains; any other name is a real-shaped random checkpoint. */
const modelFolder = (shape: string) => (shape === "tiny" ? path.join(shared, "golden/blip/base_like_32px") : ensureRandomModel(shape));

export interface TrainBenchOptions {
  shape: string;
  batch: number;
  /** Pad every batch to T random tokens; null: the shapes captions, padded to each batch's longest. */
  tokens: number | null;
  steps: number;
  warmup: number;
  threads: number;
  /** onnxruntime session settings to compare (default: the runtime's). */
  spinning?: boolean;
  memArena?: boolean;
  trainVision: boolean;
  /** Distinct batches cycled through (their image features are computed before the timing). */
  distinctBatches: number;
}

export interface Timing {
  median: number;
  min: number;
  max: number;
}

export interface TrainBenchResult {
  shape: string;
  train_vision: boolean;
  batch: number;
  tokens: string;
  steps: number;
  threads: number;
  trainable_params: number;
  compile_s: number;
  forward_backward_ms: Timing;
  /** CPU time (user + system, every thread) of forward+backward: less sensitive to a busy machine than wall time. */
  forward_backward_cpu_ms: Timing;
  adamw_ms: Timing;
  step_ms: Timing;
  peak_rss_mb: number;
  load_before: number[];
  load_after: number[];
  node: string;
  cpu: string;
}

export async function runTrainBench(o: TrainBenchOptions): Promise<TrainBenchResult> {
  const loadBefore = os.loadavg();
  const folder = modelFolder(o.shape);
  const t0 = performance.now();
  const model = loadTrainableModel(folder);
  const step = await TrainingStep.compile(model, { labelSmoothing: 0.1, trainVision: o.trainVision }, { threads: o.threads, spinning: o.spinning, memArena: o.memArena });
  const compileS = (performance.now() - t0) / 1000;
  const opt = new AdamW(step.params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, clipGradNorm: 1 });

  const batches: { batch: CaptionBatch; images: StepImages }[] = [];
  for (const { batch, pixels } of await benchBatches(folder, model.imageSize, o)) {
    batches.push({ batch, images: o.trainVision ? { pixels } : { imageEmbeds: await step.imageFeatures(pixels, o.batch) } });
  }
  // As training does once the feature cache is full.
  if (!o.trainVision) await step.releaseImageFeatures();

  const fb: number[] = [];
  const fbCpu: number[] = [];
  const adam: number[] = [];
  for (let i = 0; i < o.warmup + o.steps; i++) {
    const { batch, images } = batches[i % batches.length]!;
    const cpu = process.cpuUsage();
    const a = performance.now();
    const { grads } = await step.run(batch, images);
    const b = performance.now();
    const { user, system } = process.cpuUsage(cpu);
    opt.step(grads);
    const c = performance.now();
    if (i >= o.warmup) fb.push(b - a), fbCpu.push((user + system) / 1000), adam.push(c - b);
  }
  await step.release();
  return {
    shape: o.shape,
    train_vision: o.trainVision,
    batch: o.batch,
    tokens: o.tokens === null ? `shapes captions (${batches.map((b) => b.batch.inputIds[0]!.length).join(", ")})` : String(o.tokens),
    steps: o.steps,
    threads: o.threads,
    trainable_params: step.params.reduce((n, p) => n + p.values.length, 0),
    compile_s: compileS,
    forward_backward_ms: timing(fb),
    forward_backward_cpu_ms: timing(fbCpu),
    adamw_ms: timing(adam),
    step_ms: timing(fb.map((x, i) => x + adam[i]!)),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    load_before: loadBefore,
    load_after: os.loadavg(),
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? "?"} × ${os.availableParallelism()}`,
  };
}

/**
 * `distinctBatches` batches of (image, caption) pairs from the shapes training split, in file order:
 * `[DEC]` + the caption's word pieces + `[SEP]` (labels -100 on padding), or T random tokens per row
 * (row r keeps r mod 3 padding positions) when `tokens` is set.
 */
async function benchBatches(folder: string, imageSize: number, o: TrainBenchOptions): Promise<{ batch: CaptionBatch; pixels: Float32Array }[]> {
  const config = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8"));
  const bos: number = config.text_config?.bos_token_id ?? 30522;
  const vocab: number = config.text_config?.vocab_size ?? 30524;
  const processorFile = path.join(folder, "preprocessor_config.json");
  const processor = fs.existsSync(processorFile)
    ? parseImageProcessorConfig(JSON.parse(fs.readFileSync(processorFile, "utf8")))
    : { ...defaultImageProcessorConfig(), size: { height: imageSize, width: imageSize } };
  const items = readSplit(SHAPES_TRAIN).items;
  const tokenizer = o.tokens === null ? loadTokenizer(path.join(folder, "tokenizer.json")) : null;
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: { batch: CaptionBatch; pixels: Float32Array }[] = [];
  for (let k = 0; k < o.distinctBatches; k++) {
    const rows = Array.from({ length: o.batch }, (_, r) => items[(k * o.batch + r) % items.length]!);
    const ids = rows.map((item, r) => {
      if (!tokenizer) return [bos, ...Array.from({ length: o.tokens! - 1 - (r % 3) }, () => 1000 + Math.floor(random() * (vocab - 1002)))];
      const encoded = tokenizer.encode(item.text).ids.slice();
      encoded[0] = bos;
      return encoded;
    });
    const T = o.tokens ?? Math.max(...ids.map((r) => r.length));
    const pad = tokenizer?.padTokenId ?? 0;
    const batch: CaptionBatch = {
      inputIds: ids.map((r) => [...r, ...new Array(T - r.length).fill(pad)]),
      attentionMask: ids.map((r) => [...new Array(r.length).fill(1), ...new Array(T - r.length).fill(0)]),
      labels: ids.map((r) => [...r, ...new Array(T - r.length).fill(-100)]),
    };
    const pixels = concatFloat32(await Promise.all(rows.map((item) => preprocessImage(new Uint8Array(fs.readFileSync(item.file)), processor))));
    out.push({ batch, pixels });
  }
  return out;
}

function timing(xs: number[]): Timing {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)! };
}

function format(r: TrainBenchResult): string {
  const t = (x: Timing) => `${x.median.toFixed(1)} ms (min ${x.min.toFixed(1)}, max ${x.max.toFixed(1)})`;
  return [
    `shape ${r.shape}${r.train_vision ? ", vision trained" : ", vision frozen (cached features)"}, batch ${r.batch}, tokens ${r.tokens}, ${r.threads} threads`,
    `trainable parameters ${(r.trainable_params / 1e6).toFixed(2)} M, compile ${r.compile_s.toFixed(1)} s`,
    `forward+backward  ${t(r.forward_backward_ms)}, CPU time ${t(r.forward_backward_cpu_ms)}`,
    `AdamW (clip 1.0)  ${t(r.adamw_ms)}`,
    `step              ${t(r.step_ms)}   median of ${r.steps}`,
    `peak RSS          ${r.peak_rss_mb.toFixed(0)} MB`,
    `load average      ${r.load_before.map((x) => x.toFixed(2)).join(" ")} → ${r.load_after.map((x) => x.toFixed(2)).join(" ")}`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: v } = parseArgs({
    options: {
      shape: { type: "string", default: "tiny" },
      batch: { type: "string" },
      tokens: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string", default: "3" },
      threads: { type: "string", default: String(os.availableParallelism()) },
      "distinct-batches": { type: "string", default: "4" },
      "train-vision": { type: "boolean", default: false },
      spinning: { type: "string" },
      "mem-arena": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const tiny = v.shape === "tiny";
  const result = await runTrainBench({
    shape: v.shape!,
    batch: Number(v.batch ?? (tiny ? 32 : 8)),
    tokens: v.tokens !== undefined ? Number(v.tokens) : tiny ? null : 30,
    steps: Number(v.steps ?? (tiny ? 30 : 5)),
    warmup: Number(v.warmup),
    threads: Number(v.threads),
    trainVision: v["train-vision"]!,
    spinning: v.spinning === undefined ? undefined : v.spinning === "on",
    memArena: v["mem-arena"] === undefined ? undefined : v["mem-arena"] === "on",
    distinctBatches: Number(v["distinct-batches"]),
  });
  console.log(v.json ? JSON.stringify(result, null, 2) : format(result));
}
