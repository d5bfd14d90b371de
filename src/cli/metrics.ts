// `captioner metrics CASES.json [--json] [--tokenization ptb|plain|none]`: score every corpus of a
// captioner-metrics-cases/1 file with the COCO metrics, jiwer and rouge_score.
import { Command, Option } from "commander";
import { type CorpusScores, readCases, scoreCases, type Tokenization } from "../metrics/index.js";
import { formatScores } from "../eval/report.js";
import { reportErrors } from "./common.js";

/** The `metrics` sub-command. */
export function metricsCommand(): Command {
  return new Command("metrics")
    .description("score captions against references: BLEU-1..4, METEOR (no paraphrase), ROUGE-L, CIDEr-D, WER/CER, rouge_score")
    .argument("<cases>", "a captioner-metrics-cases/1 JSON file")
    .option("--json", "print one JSON document instead of tables")
    .addOption(new Option("--tokenization <mode>", "caption preparation for the COCO metrics").choices(["ptb", "plain", "none"]).default("ptb"))
    .action(
      reportErrors(async (path: string, flags: { json?: boolean; tokenization: Tokenization }) => {
        const doc = scoreCases(readCases(path), { tokenization: flags.tokenization });
        process.stdout.write(flags.json ? `${JSON.stringify(doc)}\n` : formatTables(doc.corpora));
      }),
    );
}

/** One table per corpus, each followed by a blank line. */
function formatTables(corpora: Record<string, CorpusScores>): string {
  return Object.entries(corpora).map(([name, s]) => `${formatScores(`${name} (${s.items.length} items)`, s)}\n`).join("");
}
