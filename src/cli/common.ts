// What the sub-commands share: strict flag parsers, the generation flags of `caption`/`eval`,
// model resolution (folder, HF cache, or download), and one way to report errors.
import { Command, InvalidArgumentError, Option } from "commander";
import { type CaptionOptions, Captioner } from "../generation/captioner.js";
import { ensureModelFolder } from "../hub/index.js";

/** Parses a whole number ≥ min: `intAtLeast(1)`. */
export const intAtLeast = (min: number) => (value: string) => {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got "${value}"`);
  return n;
};

/** Parses a finite number, optionally > 0. */
export const number = (positive = false) => (value: string) => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || (positive && n <= 0)) throw new InvalidArgumentError(`expected a ${positive ? "positive " : ""}number, got "${value}"`);
  return n;
};

/** Adds transformers' generation flags (the `caption` contract) to a command. */
export function withGenerationFlags(cmd: Command): Command {
  return cmd
    .option("--prompt <text>", "text the caption starts with (conditional captioning)")
    .option("--max-new-tokens <n>", "maximum number of generated tokens", intAtLeast(1))
    .option("--min-new-tokens <n>", "minimum number of generated tokens before [SEP] may end the caption", intAtLeast(0))
    .option("--max-length <n>", "maximum total length, [DEC] and prompt included (default 20)", intAtLeast(1))
    .option("--num-beams <n>", "beam search width (1 = greedy)", intAtLeast(1))
    .option("--num-return-sequences <n>", "captions per image (≤ --num-beams)", intAtLeast(1))
    .option("--length-penalty <x>", "beam score = log-prob / length^x", number())
    .option("--early-stopping", "beam search stops once --num-beams captions are finished")
    .option("--repetition-penalty <x>", "penalise tokens already present (> 1 discourages repeats)", number(true))
    .option("--no-repeat-ngram-size <n>", "forbid repeating n-grams of this size", intAtLeast(0));
}

export interface GenerationFlags {
  prompt?: string;
  maxNewTokens?: number;
  minNewTokens?: number;
  maxLength?: number;
  numBeams?: number;
  numReturnSequences?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean;
  repetitionPenalty?: number;
  /**
   * commander reads `--no-X` as the negation of `--X`, so `--no-repeat-ngram-size 2` lands here (as 2),
   * and without the flag this is `true` (the negation's default).
   */
  repeatNgramSize?: number | boolean;
}

/** The CaptionOptions the generation flags ask for. */
export function captionOptions(flags: GenerationFlags): CaptionOptions {
  const { prompt, maxNewTokens, minNewTokens, maxLength, numBeams, numReturnSequences, lengthPenalty, earlyStopping, repetitionPenalty } = flags;
  const noRepeatNgramSize = typeof flags.repeatNgramSize === "number" ? flags.repeatNgramSize : undefined;
  return { prompt, maxNewTokens, minNewTokens, maxLength, numBeams, numReturnSequences, lengthPenalty, earlyStopping, repetitionPenalty, noRepeatNgramSize };
}

/** The flags that choose and load a model: `--model`, `--revision`, `--threads`, `--quantize`, `--plain`. */
export function withModelFlags(cmd: Command): Command {
  return cmd
    .requiredOption("--model <folder-or-hub-id>", "checkpoint folder, or a Hugging Face repo id (downloaded into the HF cache if missing)")
    .option("--revision <rev>", "hub revision of --model")
    .option("--threads <n>", "onnxruntime intra-op threads (default: all cores)", intAtLeast(1))
    .addOption(new Option("--quantize <mode>", "weights: fp32 as in the checkpoint, or int8 quantised at load").choices(["none", "int8"]).default("none"))
    .option("--plain", "plain ONNX ops only (the reference lowering) instead of fused onnxruntime kernels");
}

export interface ModelFlags {
  model: string;
  revision?: string;
  threads?: number;
  quantize: "none" | "int8";
  plain?: boolean;
}

/** Loads the captioner the model flags describe. */
export async function loadCaptioner(flags: ModelFlags): Promise<Captioner> {
  const lowering = { fused: !flags.plain, quantize: flags.quantize };
  return Captioner.load(await modelFolder(flags.model, flags.revision), { threads: flags.threads, lowering });
}

/** A local folder, a cached hub snapshot, or (unless HF_HUB_OFFLINE) a fresh download into the HF cache. */
export async function modelFolder(source: string, revision?: string): Promise<string> {
  const onDownload = () => process.stderr.write(`${source} is not in the Hugging Face cache; downloading it\n`);
  return ensureModelFolder(source, { revision, download: true, onDownload });
}

/** Runs a command body; any error becomes one line on stderr and exit code 1. */
export function reportErrors<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (error) {
      const e = error as Error;
      process.stderr.write(`captioner: ${e.message ?? String(error)}\n`);
      if (process.env.CAPTIONER_DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exitCode = 1;
    }
  };
}
