// What training writes: model folders in the Hugging Face layout (transformers and our loader read
// them), and the resumable training state, one safetensors file written atomically.
import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError, openCheckpoint, readSafetensors, type TensorEntry } from "../engine/checkpoint/index.js";
import { type TensorToWrite, writeSafetensors } from "../engine/checkpoint/safetensors_write.js";
import type { OptimizerState, TrainableTensor } from "./step.js";

/** The files of a model folder besides its weights that training carries over from the source folder. */
const COPIED_FILES = [
  "config.json",
  "generation_config.json",
  "preprocessor_config.json",
  "processor_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.txt",
] as const;

/**
 * Tied aliases transformers does not write (`_tied_weights_keys`), by config.json's model_type.
 * BLIP's LM head bias is one tensor with two names; a file holding both would carry a stale copy.
 */
const UNSTORED_ALIASES: Readonly<Record<string, readonly string[]>> = {
  blip: ["text_decoder.cls.predictions.decoder.bias"],
};

export const WEIGHTS_FILE = "model.safetensors";

/**
 * Writes a model folder: `model.safetensors` with every tensor of `source`'s checkpoint (frozen ones
 * copied, `trained` ones with their current values), `{"format": "pt"}` metadata, and the config,
 * generation, tokenizer and processor files of `source`.
 * saveModelFolder("blip-base", "out/epoch", step.params)
 */
export function saveModelFolder(source: string, out: string, trained: readonly TrainableTensor[]): void {
  fs.mkdirSync(out, { recursive: true });
  const config = readConfig(source);
  const checkpoint = openCheckpoint(source, { maxInMemoryBytes: 0 });
  const unstored = new Set(UNSTORED_ALIASES[config.model_type as string] ?? []);
  const byName = new Map(trained.map((t) => [t.name, t]));
  const tensors: TensorToWrite[] = [];
  for (const name of checkpoint.names()) {
    if (unstored.has(name)) continue;
    const entry = checkpoint.get(name)!;
    const own = byName.get(name);
    if (own) {
      if (own.shape.join() !== entry.shape.join()) throw new CheckpointError(`trained tensor ${name} has shape [${own.shape.join(", ")}] but ${source} stores [${entry.shape.join(", ")}]`);
      tensors.push(trainedTensor(own));
      byName.delete(name);
    } else tensors.push(copiedTensor(entry));
  }
  // A weight the source leaves to tying (e.g. an untied LM head trained from the embeddings) is stored as trained.
  for (const own of byName.values()) tensors.push(trainedTensor(own));
  writeSafetensors(path.join(out, WEIGHTS_FILE), tensors);
  for (const file of COPIED_FILES) {
    const from = path.join(source, file);
    if (fs.existsSync(from)) fs.copyFileSync(from, path.join(out, file));
  }
  if (!fs.existsSync(path.join(source, "generation_config.json"))) writeJson(path.join(out, "generation_config.json"), generationConfigOf(config));
}

function trainedTensor(t: TrainableTensor): TensorToWrite {
  return { name: t.name, dtype: "float32", shape: t.shape, byteLength: t.values.byteLength, bytes: () => new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength) };
}

function copiedTensor(e: TensorEntry): TensorToWrite {
  return { name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.source?.length ?? e.bytes.byteLength, bytes: () => e.bytes };
}

function readConfig(folder: string): Record<string, unknown> {
  const file = path.join(folder, "config.json");
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new CheckpointError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * What transformers' `GenerationConfig.from_model_config` writes for a folder that had none: the
 * special token ids of the (text) config.
 */
function generationConfigOf(config: Record<string, unknown>): Record<string, unknown> {
  const text = (config.text_config ?? config) as Record<string, unknown>;
  const out: Record<string, unknown> = { _from_model_config: true };
  for (const key of ["bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"]) if (typeof text[key] === "number") out[key] = text[key];
  return out;
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Moves every file of `from` into `to`, replacing what is there (each rename is atomic; only the weights differ between epochs). */
export function promoteModelFolder(from: string, to: string): void {
  const files = fs.readdirSync(from, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  // The weights last: until they move, `to` still holds a complete previous model.
  for (const file of [...files.filter((f) => f !== WEIGHTS_FILE), ...files.filter((f) => f === WEIGHTS_FILE)]) fs.renameSync(path.join(from, file), path.join(to, file));
}

// ---------------------------------------------------------------------------------------------
// The resumable training state

/** The key of the state's JSON in the safetensors `__metadata__`. */
const STATE_KEY = "captioner_training_state";
const PARAM_PREFIX = "param.";
const OPTIMIZER_PREFIX = "optimizer.";

/** A saved point of a training run: parameters, optimiser and the loop's counters, saved together. */
export interface SavedTraining<Progress> {
  /** The loop's counters (JSON: step, epoch, PRNG state, losses, best metric, settings). */
  progress: Progress;
  params: Map<string, Float32Array>;
  optimizer: OptimizerState;
}

/**
 * Writes the state to `file` atomically: a temporary file, fsync, rename, fsync of the folder, so a
 * SIGKILL at any moment leaves either the previous state or this one.
 */
export function saveTrainingState<P>(file: string, progress: P, params: readonly TrainableTensor[], optimizer: OptimizerState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tensors: TensorToWrite[] = [
    ...params.map((p) => ({ ...trainedTensor(p), name: PARAM_PREFIX + p.name })),
    ...[...optimizer.buffers].map(([name, values]) => ({ ...trainedTensor({ name, shape: [values.length], values }), name: OPTIMIZER_PREFIX + name })),
  ];
  const metadata = { format: "pt", [STATE_KEY]: JSON.stringify({ progress, optimizerSteps: optimizer.steps }) };
  writeSafetensors(file, tensors, metadata, { durable: true });
}

/** Reads a state written by `saveTrainingState` (copies of its arrays). */
export function loadTrainingState<P>(file: string): SavedTraining<P> {
  const ckpt = readSafetensors(file);
  const json = ckpt.metadata?.[STATE_KEY];
  if (json === undefined) throw new CheckpointError(`${file} is not a captioner training state (no ${STATE_KEY} metadata)`);
  const { progress, optimizerSteps } = JSON.parse(json) as { progress: P; optimizerSteps: number };
  const params = new Map<string, Float32Array>();
  const buffers = new Map<string, Float32Array>();
  for (const name of ckpt.names()) {
    const bytes = ckpt.get(name)!.bytes;
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (name.startsWith(PARAM_PREFIX)) params.set(name.slice(PARAM_PREFIX.length), values);
    else if (name.startsWith(OPTIMIZER_PREFIX)) buffers.set(name.slice(OPTIMIZER_PREFIX.length), values);
  }
  return { progress, params, optimizer: { steps: optimizerSteps, buffers } };
}
