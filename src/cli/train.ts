// `captioner train --model M --train D --validation D --out F [--epochs N] [--max-steps N] [--lr X]
// [--batch-size N] [--train-vision] [--label-smoothing X] [--seed N] [--resume] [--json]`: fine-tune a
// checkpoint; the flags and their defaults come from the training settings table.
import { Command, InvalidArgumentError, Option } from "commander";
import { TRAINING_BACKENDS, trainingBackendFor } from "../training/backends.js";
import { defaultSettings, type FlagKind, TRAINING_SETTINGS, type TrainingSettings } from "../training/options.js";
import type { TrainingBackend } from "../training/step.js";
import { fineTune, type TrainProgress } from "../training/train.js";
import { intAtLeast, modelFolder, number, reportErrors } from "./common.js";

interface TrainFlags extends Partial<TrainingSettings> {
  model: string;
  train: string;
  validation: string;
  out: string;
  resume?: boolean;
  json?: boolean;
}

function parserOf(kind: FlagKind): ((value: string) => number) | undefined {
  if (kind.type === "int") return intAtLeast(kind.min);
  if (kind.type === "switch") return undefined;
  const { min, max, above } = kind;
  return (value) => {
    const n = number()(value);
    if (above ? n <= min : n < min) throw new InvalidArgumentError(`expected a number ${above ? ">" : "≥"} ${min}, got "${value}"`);
    if (n > max) throw new InvalidArgumentError(`expected a number ≤ ${max}, got "${value}"`);
    return n;
  };
}

/** The `train` sub-command; `backends` is the training table (tests pass fakes). */
export function trainCommand(backends: Readonly<Record<string, TrainingBackend>> = TRAINING_BACKENDS): Command {
  const cmd = new Command("train")
    .description("fine-tune a captioning checkpoint on an imagefolder split; the best epoch by validation CIDEr-D is written to --out in the Hugging Face layout")
    .requiredOption("--model <folder-or-hub-id>", "checkpoint folder, or a Hugging Face repo id (downloaded into the HF cache if missing)")
    .requiredOption("--train <folder>", "imagefolder split to train on (every reference caption is a training caption), or a dataset root with train/")
    .requiredOption("--validation <folder>", "imagefolder split scored after each epoch, or a dataset root with validation/")
    .requiredOption("--out <folder>", "output model folder; the resumable state is kept in <out>/training/");
  for (const [key, s] of Object.entries(TRAINING_SETTINGS)) {
    if (!s.flag || !s.kind) continue;
    const parse = parserOf(s.kind);
    const help = s.default === null || typeof s.default === "boolean" ? s.help : `${s.help} (default ${String(s.default)})`;
    const option = new Option(s.flag, help);
    if (parse) option.argParser(parse);
    option.attributeName = () => key; // the table's key is the settings field
    cmd.addOption(option);
  }
  return cmd
    .option("--resume", "continue the run saved in <out>/training/ (after a crash or a kill) with the same flags")
    .option("--json", 'print one JSON document: {"out", "steps", "seconds", "train_loss", "validation": {"before", "after", "epochs"}, ...}')
    .action(
      reportErrors(async (flags: TrainFlags) => {
        const model = await modelFolder(flags.model);
        const settings = { ...defaultSettings() };
        for (const key of Object.keys(TRAINING_SETTINGS) as (keyof TrainingSettings)[]) if (flags[key] !== undefined) (settings as Record<string, unknown>)[key] = flags[key];
        const bar = process.stderr.isTTY ? progressLine() : undefined;
        const result = await fineTune({
          model,
          train: flags.train,
          validation: flags.validation,
          out: flags.out,
          settings,
          resume: flags.resume,
          backend: trainingBackendFor(model, backends),
          onProgress: bar?.update,
          onMessage: (line) => (bar?.clear(), process.stderr.write(`${line}\n`)),
        }).finally(() => bar?.clear());
        const { before, after } = result.validation;
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(result)}\n`
            : `wrote ${result.out} (epoch ${result.best_epoch} of ${result.train_loss.length}, ${result.steps} steps in ${result.seconds.toFixed(1)} s)\n` +
                `validation CIDEr-D ${before.CIDEr.toFixed(4)} → ${after.CIDEr.toFixed(4)}, BLEU-4 ${before.Bleu_4.toFixed(4)} → ${after.Bleu_4.toFixed(4)}\n`,
        );
      }),
    );
}

/** One progress line on stderr (a terminal only): step, epoch, loss, lr, steps/s, ETA. */
function progressLine(): { update: (p: TrainProgress) => void; clear: () => void } {
  let drawn = false;
  return {
    update: (p) => {
      const text = `step ${p.step}/${p.totalSteps}  epoch ${p.epoch}/${p.epochs}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}  ${p.stepsPerSecond.toFixed(2)} steps/s  ETA ${clock(p.etaMs)}`;
      process.stderr.write(`\r${text}\x1b[K`);
      drawn = true;
    },
    clear: () => {
      if (drawn) process.stderr.write("\r\x1b[K");
      drawn = false;
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
