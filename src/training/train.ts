// Fine-tuning a captioning checkpoint on an imagefolder split: the library behind `captioner train`.
// Images are preprocessed (and, with the vision tower frozen, encoded) once; each epoch shuffles the
// (image, caption) pairs with a seeded generator, every batch is one optimiser step (accumulated over
// micro-batches when asked) on a warm-up + decay schedule; after each epoch the model is saved in the
// Hugging Face layout, loaded back like any checkpoint and scored on the validation split (greedy
// captions, CIDEr-D), and the best epoch becomes the output folder. A state file saved atomically
// during the run lets `resume` continue after a crash and end where an uninterrupted run ends.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type DatasetItem, DatasetError, DEFAULT_SPLIT_ORDER, isSplitFolder, listSplits, openDataset } from "../datasets/imagefolder.js";
import { Captioner } from "../generation/captioner.js";
import type { CocoScores } from "../metrics/coco.js";
import { scoreCorpus } from "../metrics/corpus.js";
import type { CaptionModel } from "../models/caption_model.js";
import { loadCaptionModel } from "../models/index.js";
import { loadTrainingState, promoteModelFolder, saveModelFolder, saveTrainingState } from "./checkpoint.js";
import { type CaptionPair, batchesOf, captionPairs, collate, Prng, shuffledOrder, targetTokens } from "./data.js";
import { buildImageCache, type ImageCache } from "./image_cache.js";
import type { TrainingSettings } from "./options.js";
import { learningRate, type Schedule } from "./schedule.js";
import type { GradientResult, GradientStep, Optimizer, TrainableTensor, TrainingBackend, TrainingBatch } from "./step.js";

export interface FineTuneRequest {
  /** The source checkpoint folder (config.json, weights, tokenizer and processor files). */
  model: string;
  /** Imagefolder splits (or dataset roots: their train / validation split is taken). */
  train: string;
  validation: string;
  /** The output model folder; the run's state lives in `<out>/training/`. */
  out: string;
  settings: TrainingSettings;
  /** Continue the run saved in `<out>/training/` (a fresh start when none was saved yet). */
  resume?: boolean;
  backend: TrainingBackend;
  onProgress?: (p: TrainProgress) => void;
  /** One line per phase and per epoch (caching images, validation scores). */
  onMessage?: (line: string) => void;
}

export interface TrainProgress {
  /** Optimiser steps done and planned. */
  step: number;
  totalSteps: number;
  /** 1-based epoch of the step just taken. */
  epoch: number;
  epochs: number;
  loss: number;
  lr: number;
  stepsPerSecond: number;
  etaMs: number;
}

/** The validation split's corpus metrics (COCO names: Bleu_1..4, METEOR, ROUGE_L, CIDEr). */
export type ValidationScores = CocoScores;

/** The `captioner train --json` document. */
export interface FineTuneResult {
  out: string;
  /** Optimiser steps taken. */
  steps: number;
  /** Seconds spent in optimiser steps (forward, backward, update), over every resumed part of the run. */
  seconds: number;
  /** Seconds of the whole command, this process only (loading, image cache, validation included). */
  wall_seconds: number;
  /** Mean training loss of each epoch. */
  train_loss: number[];
  /** The epoch kept as the output (1-based). */
  best_epoch: number;
  validation: { before: ValidationScores; after: ValidationScores; epochs: ValidationScores[] };
}

/** The loop's counters, saved with the parameters and the optimiser (JSON). */
interface RunProgress {
  /** Refuses a resume with other settings or data. */
  run: { model: string; train: string; validation: string; pairs: number; settings: Partial<TrainingSettings> };
  step: number;
  /** Epochs finished, and how many batches of the current one are done. */
  epochsDone: number;
  batchesDone: number;
  /** Generator state before the current epoch's shuffle (its order is drawn again on resume). */
  epochRngState: number;
  epochLossSum: number;
  trainLoss: number[];
  seconds: number;
  before: ValidationScores | null;
  /** Scores of the finished epochs validated so far (at most `epochsDone`). */
  validation: ValidationScores[];
  bestEpoch: number;
}

/** Where the run keeps its state, the epoch being validated and (for big sets) the image cache. */
export const runFolder = (out: string) => path.join(out, "training");
export const stateFile = (out: string) => path.join(runFolder(out), "state.safetensors");

/**
 * Fine-tunes `request.model` and writes the best epoch to `request.out`.
 * (await fineTune({ model, train, validation, out, settings: defaultSettings(), backend })).validation.after.CIDEr
 */
export async function fineTune(request: FineTuneRequest): Promise<FineTuneResult> {
  const started = performance.now();
  const { settings, out } = request;
  const say = request.onMessage ?? (() => {});
  const model = path.resolve(request.model);
  if (path.resolve(out) === model) throw new TrainingSetupError(`--out ${out} is the model folder itself; write the fine-tuned model to another folder`);
  const train = openTrainSplit(request.train).items;
  const validation = openDataset(request.validation).items;

  const source = await loadCaptionModel(model, { threads: settings.threads, lowering: { fused: false, quantize: "none" } });
  let pairs: CaptionPair[];
  let trainImages: ImageCache;
  let validationPixels: ImageCache;
  try {
    pairs = captionPairs(train, source.tokenizer, source.maxPositions);
    say(`${pairs.length} (image, caption) pairs from ${train.length} images; caching ${settings.trainVision ? "pixels" : "vision features"}`);
    trainImages = await cacheImages(source, train, settings.trainVision ? "pixels" : "features", settings, path.join(runFolder(out), "train_images.f32"));
    validationPixels = await cacheImages(source, validation, "pixels", settings, path.join(runFolder(out), "validation_pixels.f32"));
  } finally {
    await source.release();
  }
  const { special } = source;
  const stepsPerEpoch = Math.ceil(pairs.length / settings.batchSize);
  const totalSteps = settings.maxSteps ?? settings.epochs * stepsPerEpoch;
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const schedule: Schedule = { kind: settings.schedule, lr: settings.lr, warmupSteps: settings.warmupSteps, totalSteps };
  const run: RunProgress["run"] = { model, train: path.resolve(request.train), validation: path.resolve(request.validation), pairs: pairs.length, settings: resultSettings(settings) };

  const gradient = await request.backend.createStep(model, { labelSmoothing: settings.labelSmoothing, trainVision: settings.trainVision, threads: settings.threads });
  try {
    const optimizer = request.backend.createOptimizer(gradient.params, { betas: settings.betas, eps: settings.eps, weightDecay: settings.weightDecay, clipGradNorm: settings.clipGradNorm });
    const state = await startOrResume(request, run, gradient, optimizer, say);
    const save = () => saveTrainingState(stateFile(out), state, gradient.params, optimizer.state());
    const validate = async (folder: string) => scoreValidation(folder, validation, validationPixels, settings);

    if (state.before === null) {
      say(`validating ${model} before training (${validation.length} images)`);
      state.before = await validate(model);
      save();
    }
    const runBatch = (rows: readonly number[]) => batchGradient(gradient, rows.map((i) => pairs[i]!), trainImages, special, settings);
    let lastSave = performance.now();
    const resumedAt = state.step;
    const processStart = performance.now();
    while (state.validation.length < state.epochsDone || state.step < totalSteps) {
      if (state.validation.length < state.epochsDone) {
        await validateEpoch(state, request, gradient.params, validate, say);
        save();
        continue;
      }
      const rng = Prng.fromState(state.epochRngState);
      const batches = batchesOf(shuffledOrder(pairs.length, rng), settings.batchSize);
      while (state.batchesDone < batches.length && state.step < totalSteps) {
        const t0 = performance.now();
        const { loss, grads } = await runBatch(batches[state.batchesDone]!);
        const lr = learningRate(state.step, schedule);
        optimizer.step(grads, lr);
        state.seconds += (performance.now() - t0) / 1000;
        state.step += 1;
        state.batchesDone += 1;
        state.epochLossSum += loss;
        const rate = (state.step - resumedAt) / Math.max((performance.now() - processStart) / 1000, 1e-9);
        request.onProgress?.({ step: state.step, totalSteps, epoch: state.epochsDone + 1, epochs, loss, lr, stepsPerSecond: rate, etaMs: ((totalSteps - state.step) / rate) * 1000 });
        if (performance.now() - lastSave >= settings.saveStateSeconds * 1000) (save(), (lastSave = performance.now()));
      }
      state.trainLoss.push(state.epochLossSum / state.batchesDone);
      state.epochsDone += 1;
      state.batchesDone = 0;
      state.epochLossSum = 0;
      state.epochRngState = rng.state;
      save();
      lastSave = performance.now();
    }
    await fs.rm(path.join(runFolder(out), "epoch"), { recursive: true, force: true });
    return {
      out,
      steps: state.step,
      seconds: state.seconds,
      wall_seconds: (performance.now() - started) / 1000,
      train_loss: state.trainLoss,
      best_epoch: state.bestEpoch,
      validation: { before: state.before, after: state.validation[state.bestEpoch - 1]!, epochs: state.validation },
    };
  } finally {
    await gradient.release();
    trainImages.release();
    validationPixels.release();
  }
}

/** A set-up problem (flags, folders, a saved run that does not match); the message says what to do. */
export class TrainingSetupError extends Error {
  override name = "TrainingSetupError";
}

/** A split folder, or the train split of a dataset root (`openDataset` alone would pick validation first). */
function openTrainSplit(folder: string) {
  if (isSplitFolder(folder)) return openDataset(folder);
  const trainNames: readonly string[] = DEFAULT_SPLIT_ORDER[2];
  const split = listSplits(folder).find((s) => trainNames.includes(s));
  if (split === undefined) throw new DatasetError(`${folder} has no train split (${trainNames.join(", ")}); point --train at the split folder to train on`);
  return openDataset(folder, { split });
}

/** Settings that change the result; the others (threads, how often the state is saved…) may differ on resume. */
function resultSettings(s: TrainingSettings): Partial<TrainingSettings> {
  const { threads: _t, saveStateSeconds: _s, featureMemoryBytes: _f, validationBatchSize: _v, ...rest } = s;
  return rest;
}

/** A fresh run, or the saved one (parameters and optimiser restored) when resuming. */
async function startOrResume(request: FineTuneRequest, run: RunProgress["run"], gradient: GradientStep, optimizer: Optimizer, say: (line: string) => void): Promise<RunProgress> {
  const file = stateFile(request.out);
  const saved = await fs.access(file).then(
    () => true,
    () => false,
  );
  if (saved && !request.resume) throw new TrainingSetupError(`${request.out} holds a training run already (${file}); pass --resume to continue it, or choose another --out`);
  if (!saved) {
    if (request.resume) say(`no saved state in ${runFolder(request.out)}; starting from the beginning`);
    return { run, step: 0, epochsDone: 0, batchesDone: 0, epochRngState: new Prng(request.settings.seed).state, epochLossSum: 0, trainLoss: [], seconds: 0, before: null, validation: [], bestEpoch: 0 };
  }
  const state = loadTrainingState<RunProgress>(file);
  const differs = JSON.stringify(state.progress.run) !== JSON.stringify(run);
  if (differs) throw new TrainingSetupError(`the run saved in ${request.out} was started with other settings or data (${JSON.stringify(state.progress.run)}); resume it with the same flags, or choose another --out`);
  for (const p of gradient.params) {
    const values = state.params.get(p.name);
    if (!values || values.length !== p.values.length) throw new TrainingSetupError(`${file} has no values of the right size for ${p.name}; it was saved by another model`);
    p.values.set(values);
  }
  optimizer.load(state.optimizer);
  say(`resuming at step ${state.progress.step} (epoch ${state.progress.epochsDone + 1})`);
  return state.progress;
}

/** Saves the model after an epoch, scores it on the validation split and keeps it as the output when it is the best so far. */
async function validateEpoch(
  state: RunProgress,
  request: FineTuneRequest,
  params: readonly TrainableTensor[],
  validate: (folder: string) => Promise<ValidationScores>,
  say: (line: string) => void,
): Promise<void> {
  const epoch = state.validation.length + 1;
  const folder = path.join(runFolder(request.out), "epoch");
  await fs.rm(folder, { recursive: true, force: true });
  saveModelFolder(request.model, folder, params);
  const scores = await validate(folder);
  const best = state.bestEpoch === 0 || scores.CIDEr > state.validation[state.bestEpoch - 1]!.CIDEr;
  if (best) promoteModelFolder(folder, request.out);
  state.validation.push(scores);
  if (best) state.bestEpoch = epoch;
  say(`epoch ${epoch}: train loss ${state.trainLoss[epoch - 1]!.toFixed(4)}, validation CIDEr-D ${scores.CIDEr.toFixed(4)} BLEU-4 ${scores.Bleu_4.toFixed(4)}${best ? " (best so far: kept)" : ""}`);
}

/** Greedy captions of the validation images by the model in `folder`, scored against their references. */
async function scoreValidation(folder: string, items: readonly DatasetItem[], pixels: ImageCache, settings: TrainingSettings): Promise<ValidationScores> {
  const captioner = await Captioner.load(folder, { threads: settings.threads });
  const predictions: string[] = [];
  try {
    for (let at = 0; at < items.length; at += settings.validationBatchSize) {
      const images = Array.from({ length: Math.min(settings.validationBatchSize, items.length - at) }, (_, k) => at + k);
      const captions = await captioner.captionPixels(pixels.rows(images), images.length, { maxNewTokens: settings.maxNewTokens, numBeams: 1 });
      predictions.push(...captions.map((c) => c[0]!.text));
    }
  } finally {
    await captioner.release();
  }
  return scoreCorpus(items.map((it, i) => ({ id: it.id, prediction: predictions[i]!, references: it.references }))).coco;
}

/** Decodes and preprocesses every image once, and with the vision tower frozen runs it once per image. */
async function cacheImages(model: CaptionModel, items: readonly DatasetItem[], what: "pixels" | "features", settings: TrainingSettings, file: string): Promise<ImageCache> {
  const pipeline = new Captioner(model);
  const readPixels = async (start: number, end: number) => pipeline.pixels(await Promise.all(items.slice(start, end).map((it) => readImage(it.file))));
  const pixelsPerImage = 3 * model.imageSize ** 2;
  let rowLength = pixelsPerImage;
  let compute = readPixels;
  if (what === "features") {
    const probe = (await model.encode(await readPixels(0, 1), 1)).imageEmbeds;
    rowLength = probe.dims.slice(1).reduce((a, b) => a * b, 1);
    compute = async (start, end) => (await model.encode(await readPixels(start, end), end - start)).imageEmbeds.data as Float32Array;
  }
  return buildImageCache(items.length, rowLength, compute, { chunk: 32, memoryBytes: settings.featureMemoryBytes, file });
}

async function readImage(file: string): Promise<Uint8Array> {
  try {
    const b = await fs.readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (error) {
    throw new DatasetError(`cannot read image ${file}: ${(error as Error).message}`);
  }
}

/**
 * The loss and gradients of one batch. With micro-batches, each part's gradient is weighted by its
 * share of the batch's target tokens: the loss is a mean over tokens, so the sum equals the whole
 * batch's gradient (not an average of per-part means, which would weight short captions more).
 */
async function batchGradient(
  gradient: GradientStep,
  batch: readonly CaptionPair[],
  images: ImageCache,
  special: { bos: number; pad: number },
  settings: TrainingSettings,
): Promise<GradientResult> {
  const size = settings.microBatchSize ?? batch.length;
  const parts: TrainingBatch[] = [];
  for (let at = 0; at < batch.length; at += size) {
    const rows = batch.slice(at, at + size);
    const rowsOfImages = images.rows(rows.map((p) => p.image));
    parts.push({ ...collate(rows.map((p) => p.ids), special), images: rows.length, ...(settings.trainVision ? { pixels: rowsOfImages } : { imageEmbeds: rowsOfImages }) });
  }
  if (parts.length === 1) return gradient.run(parts[0]!);
  const tokens = parts.map((p) => targetTokens(p.labels));
  const total = tokens.reduce((a, b) => a + b, 0);
  let loss = 0;
  const grads = new Map<string, Float32Array>();
  for (const [k, part] of parts.entries()) {
    const weight = tokens[k]! / total;
    const result = await gradient.run(part);
    loss += weight * result.loss;
    for (const [name, g] of result.grads) {
      let sum = grads.get(name);
      if (!sum) grads.set(name, (sum = new Float32Array(g.length)));
      for (let i = 0; i < g.length; i++) sum[i] += weight * g[i]!;
    }
  }
  return { loss, grads };
}
