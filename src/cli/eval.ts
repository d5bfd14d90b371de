// `captioner eval --model M --dataset D [--split S] [--limit N] [--batch-size N] [generation flags] [--json] [--report FILE]`:
// caption every image of an imagefolder split, score against its references, print metrics and images/s.
import { Command, Option } from "commander";
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Tokenization } from "../metrics/index.js";
import { evaluate, type EvaluationResult } from "../eval/evaluate.js";
import { buildReport, formatScores } from "../eval/report.js";
import { openDataset } from "../datasets/imagefolder.js";
import { toKwargs } from "../generation/options.js";
import { captionOptions, type GenerationFlags, intAtLeast, loadCaptioner, type ModelFlags, progressBar, reportErrors, withGenerationFlags, withModelFlags } from "./common.js";

interface EvalFlags extends GenerationFlags, ModelFlags {
  dataset: string;
  split?: string;
  limit?: number;
  batchSize: number;
  tokenization: Tokenization;
  json?: boolean;
  report?: string;
}

/** The `eval` sub-command. */
export function evalCommand(): Command {
  return withGenerationFlags(
    withModelFlags(
      new Command("eval").description("caption a dataset split and score it: BLEU-1..4, METEOR (no paraphrase), ROUGE-L, CIDEr-D, WER/CER, rouge_score, images/s"),
    )
      .requiredOption("--dataset <folder>", "an imagefolder split (images + metadata.jsonl) or a dataset root with split sub-folders")
      .option("--split <name>", "split of a dataset root (default: validation, else test, else train)")
      .option("--limit <n>", "evaluate only the first n items", intAtLeast(1))
      .option("--batch-size <n>", "images per generation batch", intAtLeast(1), 8)
      .addOption(new Option("--tokenization <mode>", "caption preparation for the COCO metrics").choices(["ptb", "plain", "none"]).default("ptb"))
      .option("--json", "print one JSON document: {n, images_per_s, coco, jiwer, rouge, rouge_stemmed, items}")
      .option("--report <file.html>", "also write a self-contained HTML report (metrics, per-item table with thumbnails, CIDEr-D histogram)"),
  ).action(
    reportErrors(async (flags: EvalFlags) => {
      const split = openDataset(flags.dataset, { split: flags.split });
      if (split.chosen === "default") process.stderr.write(`using split "${split.name}" of ${flags.dataset} (choose another with --split)\n`);
      if (flags.report) await assertWritableFolder(flags.report); // fail before a long run, not after it
      const items = flags.limit === undefined ? split.items : split.items.slice(0, flags.limit);
      const captioner = await loadCaptioner(flags);
      const bar = process.stderr.isTTY ? progressBar() : undefined;
      let result: EvaluationResult;
      try {
        result = await evaluate(captioner, items, { batchSize: flags.batchSize, caption: captionOptions(flags), tokenization: flags.tokenization, onProgress: bar?.update });
      } finally {
        bar?.finish();
        await captioner.release();
      }
      if (flags.report) {
        const settings = { split: split.name, batch_size: flags.batchSize, tokenization: flags.tokenization, ...generationSettings(flags) };
        const html = await buildReport(result, { model: flags.model, dataset: flags.dataset, settings }, items.map((it) => it.file));
        await fs.writeFile(flags.report, html).catch((e: Error) => Promise.reject(new Error(`cannot write report ${flags.report}: ${e.message}`)));
        process.stderr.write(`wrote ${flags.report}\n`);
      }
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : formatScores(`${split.name} (${result.n} items)`, result, [["images/s", result.images_per_s, 2]]));
    }),
  );
}

async function assertWritableFolder(file: string): Promise<void> {
  const folder = path.dirname(path.resolve(file));
  await fs.access(folder, fsConstants.W_OK).catch(() => Promise.reject(new Error(`cannot write report ${file}: folder ${folder} does not exist or is not writable`)));
}

/** The generation options the user set, named as transformers' generate() kwargs, for the report. */
function generationSettings(flags: EvalFlags): Record<string, string | number | boolean> {
  return toKwargs(captionOptions(flags)) as Record<string, string | number | boolean>; // the CLI's prompt is one string
}
