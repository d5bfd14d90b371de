// What the sub-commands share: strict flag parsers, the generation flags of `caption`/`eval`,
// model resolution (folder, HF cache, or download), and one way to report errors.
import { Command, InvalidArgumentError, Option } from "commander";
import { Captioner } from "../generation/captioner.js";
import { type CaptionOptions, describeOption, OPTION_NAMES, type OptionField, type OptionKey, type OptionName, type OptionValue, optionField } from "../generation/options.js";
import { ensureModelFolder } from "../hub/index.js";
import { QUANTIZE_MODES, type Quantize, quantizeModes } from "../engine/graph.js";

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

/** An option's flag: transformers' name with dashes, `max_new_tokens` → `--max-new-tokens`. */
const flagName = (key: string) => `--${key.replaceAll("_", "-")}`;

/** `--max-new-tokens <n>`: the flag of option `name`, its placeholder, help and parser. */
function generationFlag(name: OptionName): Option {
  const field = optionField(name);
  const option = new Option(`${flagName(field.key)}${{ int: " <n>", number: " <x>", string: " <text>", boolean: "" }[field.kind]}`, describeOption(name, flagName));
  const parse = flagParser(field);
  return parse ? option.argParser(parse) : option;
}

/** A strict parser for a flag of `field`'s kind and range (none for strings and switches). */
function flagParser(field: OptionField): ((value: string) => number) | undefined {
  if (field.kind === "int") return intAtLeast(field.min ?? Number.MIN_SAFE_INTEGER);
  if (field.kind === "number") return number(field.above === 0);
  return undefined;
}

/** Adds transformers' generation flags (the `caption` contract) to a command. */
export function withGenerationFlags(cmd: Command): Command {
  for (const name of OPTION_NAMES) cmd.addOption(generationFlag(name));
  return cmd;
}

type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
/**
 * Where commander stores a flag's value. It reads `--no-X` as the negation of `--X`, so
 * `--no-repeat-ngram-size 2` lands in `repeatNgramSize` (as 2), which is `true` without the flag.
 */
type FlagAttribute<Key extends string> = Key extends `no_${infer Rest}` ? Camel<Rest> : Camel<Key>;

export type GenerationFlags = { [N in OptionName as FlagAttribute<OptionKey<N>>]?: OptionValue<N> | (OptionKey<N> extends `no_${string}` ? boolean : never) };

/** The CaptionOptions the generation flags ask for (a negated flag's default `true` is no value). */
export function captionOptions(flags: GenerationFlags): CaptionOptions {
  const values = flags as Record<string, unknown>;
  const given = OPTION_NAMES.map((name) => [name, values[generationFlag(name).attributeName()]] as const);
  return Object.fromEntries(given.filter(([name, value]) => typeof value === KIND_TYPE[optionField(name).kind]));
}

const KIND_TYPE = { int: "number", number: "number", boolean: "boolean", string: "string" } as const;

/** The flags that choose and load a model: `--model`, `--revision`, `--threads`, `--quantize`, `--plain`. */
export function withModelFlags(cmd: Command): Command {
  return cmd
    .requiredOption("--model <folder-or-hub-id>", "checkpoint folder, or a Hugging Face repo id (downloaded into the HF cache if missing)")
    .option("--revision <rev>", "hub revision of --model")
    .option("--threads <n>", "onnxruntime intra-op threads (default: all cores)", intAtLeast(1))
    .addOption(quantizeOption())
    .option("--plain", "plain ONNX ops only (the reference lowering) instead of fused onnxruntime kernels");
}

export interface ModelFlags {
  model: string;
  revision?: string;
  threads?: number;
  quantize: Quantize;
  plain?: boolean;
}

/** `--quantize <mode>`, its choices and their help from the engine's one table (QUANTIZE_MODES). */
export function quantizeOption(): Option {
  const help = quantizeModes.map((m) => `${m}: ${QUANTIZE_MODES[m]}`).join("; ");
  return new Option("--quantize <mode>", `weights (${help})`).choices(quantizeModes).default("none");
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

/** What a progress bar shows (eval's batches, describe's files). */
export interface Progress {
  done: number;
  total: number;
  imagesPerSecond: number;
  etaMs: number;
}

/** A one-line progress bar on stderr (only used when stderr is a terminal): done/total, images/s, ETA. */
export function progressBar(): { update: (p: Progress) => void; finish: () => void } {
  let drawn = false;
  return {
    update: (p) => {
      const width = Math.max(10, Math.min(40, (process.stderr.columns || 80) - 50));
      const filled = Math.round((p.done / p.total) * width);
      const text = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.done}/${p.total}  ${p.imagesPerSecond.toFixed(1)} img/s  ETA ${clock(p.etaMs)}`;
      process.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
    },
    finish: () => {
      if (drawn) process.stderr.write("\n");
    },
  };
}

/** Milliseconds as m:ss or h:mm:ss. */
function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}
