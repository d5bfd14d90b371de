// The training settings in one table: each one's default (the recipe of issue 10 — batch 32, AdamW
// 1e-3, weight decay 0.01, 50 warm-up steps then linear decay, clip 1.0, label smoothing 0.1, 30
// epochs), what it means, and, for the ones the command line exposes, its flag. The CLI builds
// its flags from this table and the README's table is written from it.
import type { ScheduleKind } from "./schedule.js";

/** How a flag's text becomes the value: a whole number ≥ min, a number in a range (`above`: exclusive lower bound), or a switch. */
export type FlagKind = { type: "int"; min: number } | { type: "number"; min: number; max: number; above?: boolean } | { type: "switch" };

interface Setting<T> {
  default: T;
  help: string;
  /** The command-line flag (`--epochs <n>`); absent: not on the command line. */
  flag?: string;
  /** Its values' kind; a setting with a kind is also a field of the service's train jobs (`POST /v1/admin/jobs/train`). */
  kind?: FlagKind;
}

const setting = <T>(s: Setting<T>): Setting<T> => s;

export const TRAINING_SETTINGS = {
  epochs: setting({ default: 30, help: "passes over every (image, caption) pair", flag: "--epochs <n>", kind: { type: "int", min: 1 } }),
  maxSteps: setting<number | null>({ default: null, help: "stop after this many optimiser steps (the schedule then decays over them)", flag: "--max-steps <n>", kind: { type: "int", min: 1 } }),
  lr: setting({ default: 1e-3, help: "peak learning rate (AdamW)", flag: "--lr <x>", kind: { type: "number", min: 0, max: Infinity, above: true } }),
  batchSize: setting({ default: 32, help: "(image, caption) pairs per optimiser step", flag: "--batch-size <n>", kind: { type: "int", min: 1 } }),
  trainVision: setting({ default: false, help: "train the vision encoder too (default: frozen, its features computed once per image)", flag: "--train-vision", kind: { type: "switch" } }),
  labelSmoothing: setting({ default: 0.1, help: "label smoothing of the captioning loss", flag: "--label-smoothing <x>", kind: { type: "number", min: 0, max: 1 } }),
  seed: setting({ default: 0, help: "seed of the shuffling; a run is repeatable from it", flag: "--seed <n>", kind: { type: "int", min: 0 } }),
  weightDecay: setting({ default: 0.01, help: "AdamW's decoupled weight decay, on every trainable tensor", kind: { type: "number", min: 0, max: 1 } }),
  betas: setting<readonly [number, number]>({ default: [0.9, 0.999], help: "AdamW's moment decay rates" }),
  eps: setting({ default: 1e-8, help: "AdamW's epsilon" }),
  clipGradNorm: setting<number | null>({ default: 1.0, help: "clip the gradients' global L2 norm to this before each step (null: no clipping)" }),
  schedule: setting<ScheduleKind>({ default: "linear", help: "learning-rate decay after warm-up: linear, cosine or constant" }),
  warmupSteps: setting({ default: 50, help: "optimiser steps of linear warm-up from 0", kind: { type: "int", min: 0 } }),
  microBatchSize: setting<number | null>({ default: null, help: "rows per forward/backward pass; a batch is accumulated over several when smaller (null: the whole batch at once)", kind: { type: "int", min: 1 } }),
  maxNewTokens: setting({ default: 47, help: "greedy caption length limit of the validation (the shapes captions are 20–40 word pieces)", kind: { type: "int", min: 1 } }),
  validationBatchSize: setting({ default: 50, help: "images per captioning batch during validation", kind: { type: "int", min: 1 } }),
  saveStateSeconds: setting({ default: 60, help: "seconds between saves of the resumable training state (also saved at every epoch's end)" }),
  featureMemoryBytes: setting({ default: 2 * 1024 ** 3, help: "the image cache (features or pixels) stays in memory up to this size, else goes to a file in <out>/training/" }),
  threads: setting<number | undefined>({ default: undefined, help: "onnxruntime intra-op threads (default: every core)" }),
};

type SettingsTable = typeof TRAINING_SETTINGS;

/** Every training setting with its value. */
export type TrainingSettings = { [K in keyof SettingsTable]: SettingsTable[K]["default"] };

/** The defaults of every setting. */
export function defaultSettings(): TrainingSettings {
  return Object.fromEntries(Object.entries(TRAINING_SETTINGS).map(([k, s]) => [k, s.default])) as TrainingSettings;
}
