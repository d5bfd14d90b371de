// `captioner metrics CASES.json [--json] [--tokenization ptb|plain|none]`: score every corpus of a
// captioner-metrics-cases/1 file with the COCO metrics, jiwer and rouge_score.
import { Command, Option } from "commander";
import { COCO_METRICS, MetricsInputError, readCases, scoreCases, type CorpusScores, type Tokenization } from "../metrics/index.js";

/** The `metrics` sub-command. */
export function metricsCommand(): Command {
  return new Command("metrics")
    .description("score captions against references: BLEU-1..4, METEOR (no paraphrase), ROUGE-L, CIDEr-D, WER/CER, rouge_score")
    .argument("<cases>", "a captioner-metrics-cases/1 JSON file")
    .option("--json", "print one JSON document instead of tables")
    .addOption(new Option("--tokenization <mode>", "caption preparation for the COCO metrics").choices(["ptb", "plain", "none"]).default("ptb"))
    .action((path: string, flags: { json?: boolean; tokenization: Tokenization }, command: Command) => {
      try {
        const doc = scoreCases(readCases(path), { tokenization: flags.tokenization });
        process.stdout.write(flags.json ? `${JSON.stringify(doc)}\n` : formatTables(doc.corpora));
      } catch (error) {
        if (error instanceof MetricsInputError) command.error(`error: ${error.message}`, { exitCode: 1 });
        throw error;
      }
    });
}

function formatTables(corpora: Record<string, CorpusScores>): string {
  const row = (label: string, value: number) => `  ${label.padEnd(22)} ${value.toFixed(4).padStart(9)}\n`;
  let out = "";
  for (const [name, s] of Object.entries(corpora)) {
    out += `${name} (${s.items.length} items)\n`;
    for (const k of COCO_METRICS) out += row(k === "CIDEr" ? "CIDEr-D" : k === "METEOR" ? "METEOR (no para.)" : k, s.coco[k]);
    for (const [k, v] of Object.entries(s.jiwer)) out += row(k.toUpperCase(), v);
    for (const [k, v] of Object.entries(s.rouge)) out += row(`${k} F`, v);
    for (const [k, v] of Object.entries(s.rouge_stemmed)) out += row(`${k} F (stemmed)`, v);
    out += "\n";
  }
  return out;
}
