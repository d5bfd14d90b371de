// `captioner bench --shape base|large [--quantize int8|int4] [--batch N] [--num-beams N] [--runs N] [--json]`
import { Command, Option } from "commander";
import * as os from "node:os";
import { runBench } from "../bench/measure.js";
import { BENCH_SHAPES } from "../bench/random_models.js";
import { intAtLeast, quantizeOption, reportErrors } from "./common.js";
import type { Quantize } from "../engine/graph.js";

interface BenchFlags {
  shape: string;
  quantize: Quantize;
  batch: number;
  numBeams: number;
  runs: number;
  threads: number;
  plain?: boolean;
  model?: string;
  json?: boolean;
}

export function benchCommand(): Command {
  return new Command("bench")
    .description("time load, preprocessing, vision, decoding and a 20-token caption on a real-shaped checkpoint with random weights")
    .addOption(new Option("--shape <shape>", "checkpoint shape").choices(BENCH_SHAPES).default("base"))
    .addOption(quantizeOption())
    .option("--batch <n>", "images per call", intAtLeast(1), 1)
    .option("--num-beams <n>", "beam width", intAtLeast(1), 1)
    .option("--runs <n>", "timed runs after one warm-up", intAtLeast(1), 5)
    .option("--threads <n>", "onnxruntime intra-op threads", intAtLeast(1), os.availableParallelism())
    .option("--plain", "plain ONNX ops only (the reference lowering), no fused onnxruntime kernels")
    .option("--model <folder>", "bench this checkpoint folder instead of a generated random one")
    .option("--json", "print one JSON document")
    .action(
      reportErrors(async (flags: BenchFlags) => {
        const result = await runBench({
          shape: flags.shape, batch: flags.batch, numBeams: flags.numBeams, runs: flags.runs, threads: flags.threads, folder: flags.model,
          lowering: { fused: !flags.plain, quantize: flags.quantize },
        });
        if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else for (const [k, v] of Object.entries(result)) if (typeof v !== "object") process.stdout.write(`${k.padEnd(16)} ${v}\n`);
      }),
    );
}
