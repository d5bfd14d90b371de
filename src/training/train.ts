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
import type { GradientResult, GradientStep, Optimizer, TrainingBackend, TrainingBatch } from "./step.js";

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
  /** Once the run is set up: where it starts (step 0, or the saved step of a resumed run) and what the saved part holds. */
  onStart?: (at: TrainStart) => void;
  /** After each epoch's validation. */
  onEpoch?: (epoch: EpochReport) => void;
  /** Stops the run between steps and phases: the state is saved (resumable) and the run rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface TrainStart {
  step: number;
  totalSteps: number;
  epochsDone: number;
  trainLoss: number[];
  before: ValidationScores | null;
  validation: ValidationScores[];
}

export interface EpochReport {
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  validation: ValidationScores;
  /** It is the best so far (kept as the output). */
  best: boolean;
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
  const model = path.resolve(request.model);
  if (path.resolve(request.out) === model) throw new TrainingSetupError(`--out ${request.out} is the model folder itself; write the fine-tuned model to another folder`);
  const data = await prepareData(request, model);
  try {
    const { settings } = request;
    const gradient = await request.backend.createStep(model, { labelSmoothing: settings.labelSmoothing, trainVision: settings.trainVision, threads: settings.threads });
    try {
      const optimizer = request.backend.createOptimizer(gradient.params, { betas: settings.betas, eps: settings.eps, weightDecay: settings.weightDecay, clipGradNorm: settings.clipGradNorm });
      const run: RunProgress["run"] = { model, train: path.resolve(request.train), validation: path.resolve(request.validation), pairs: data.pairs.length, settings: resultSettings(settings) };
      const state = await startOrResume(request, run, gradient, optimizer);
      const training = new TrainingRun(request, model, data, state, gradient, optimizer);
      await training.complete();
      return { ...training.result(), wall_seconds: (performance.now() - started) / 1000 };
    } finally {
      await gradient.release();
    }
  } finally {
    data.release();
  }
}

/** The pairs and the cached images of both splits, read and computed once with the source model. */
interface TrainingData {
  pairs: CaptionPair[];
  trainImages: ImageCache;
  validation: DatasetItem[];
  validationPixels: ImageCache;
  special: { bos: number; pad: number };
  release(): void;
}

async function prepareData(request: FineTuneRequest, model: string): Promise<TrainingData> {
  const { settings, out } = request;
  const train = openTrainSplit(request.train).items;
  const validation = openDataset(request.validation).items;
  const source = await loadCaptionModel(model, { threads: settings.threads, lowering: { fused: false, quantize: "none" } });
  const caches: ImageCache[] = [];
  try {
    const pairs = captionPairs(train, source.tokenizer, source.maxPositions);
    request.onMessage?.(`${pairs.length} (image, caption) pairs from ${train.length} images; caching ${settings.trainVision ? "pixels" : "vision features"}`);
    caches.push(await cacheImages(source, train, settings.trainVision ? "pixels" : "features", settings, path.join(runFolder(out), "train_images.f32")));
    caches.push(await cacheImages(source, validation, "pixels", settings, path.join(runFolder(out), "validation_pixels.f32")));
    const [trainImages, validationPixels] = caches as [ImageCache, ImageCache];
    return { pairs, trainImages, validation, validationPixels, special: source.special, release: () => caches.forEach((c) => c.release()) };
  } catch (error) {
    caches.forEach((c) => c.release());
    throw error;
  } finally {
    await source.release();
  }
}

/** A run in progress: its counters (saved with the parameters and the optimiser) and what advances them. */
class TrainingRun {
  private readonly settings: TrainingSettings;
  private readonly schedule: Schedule;
  private readonly stepsPerEpoch: number;
  private lastSave = performance.now();
  /** This process's steps and their seconds, for steps/s and the ETA. */
  private stepsHere = 0;
  private secondsHere = 0;

  constructor(
    private readonly request: FineTuneRequest,
    private readonly model: string,
    private readonly data: TrainingData,
    private readonly state: RunProgress,
    private readonly gradient: GradientStep,
    private readonly optimizer: Optimizer,
  ) {
    this.settings = request.settings;
    this.stepsPerEpoch = Math.ceil(data.pairs.length / this.settings.batchSize);
    const totalSteps = this.settings.maxSteps ?? this.settings.epochs * this.stepsPerEpoch;
    this.schedule = { kind: this.settings.schedule, lr: this.settings.lr, warmupSteps: this.settings.warmupSteps, totalSteps };
  }

  private get totalSteps(): number {
    return this.schedule.totalSteps;
  }

  /** Validation before training, then epochs until the last step, each validated (a resume picks up wherever the state left off). */
  async complete(): Promise<void> {
    const { state } = this;
    this.request.onStart?.({ step: state.step, totalSteps: this.totalSteps, epochsDone: state.epochsDone, trainLoss: [...state.trainLoss], before: state.before, validation: [...state.validation] });
    this.checkAborted();
    if (state.before === null) {
      this.say(`validating ${this.model} before training (${this.data.validation.length} images)`);
      state.before = await this.validate(this.model);
      this.save();
    }
    while (state.validation.length < state.epochsDone || state.step < this.totalSteps) {
      this.checkAborted();
      if (state.validation.length < state.epochsDone) await this.validateEpoch();
      else await this.trainEpoch();
      this.save();
    }
    await fs.rm(path.join(runFolder(this.request.out), "epoch"), { recursive: true, force: true });
  }

  result(): Omit<FineTuneResult, "wall_seconds"> {
    const { state } = this;
    return {
      out: this.request.out,
      steps: state.step,
      seconds: state.seconds,
      train_loss: state.trainLoss,
      best_epoch: state.bestEpoch,
      validation: { before: state.before!, after: state.validation[state.bestEpoch - 1]!, epochs: state.validation },
    };
  }

  /** The rest of the current epoch (its order drawn again from the saved generator state). */
  private async trainEpoch(): Promise<void> {
    const { state, settings } = this;
    const rng = Prng.fromState(state.epochRngState);
    const batches = batchesOf(shuffledOrder(this.data.pairs.length, rng), settings.batchSize);
    while (state.batchesDone < batches.length && state.step < this.totalSteps) {
      this.checkAborted();
      const t0 = performance.now();
      const rows = batches[state.batchesDone]!.map((i) => this.data.pairs[i]!);
      const { loss, grads } = await batchGradient(this.gradient, rows, this.data.trainImages, this.data.special, settings);
      const lr = learningRate(state.step, this.schedule);
      this.optimizer.step(grads, lr);
      const seconds = (performance.now() - t0) / 1000;
      state.seconds += seconds;
      state.step += 1;
      state.batchesDone += 1;
      state.epochLossSum += loss;
      this.progress(loss, lr, seconds);
      if (performance.now() - this.lastSave >= settings.saveStateSeconds * 1000) this.save();
    }
    state.trainLoss.push(state.epochLossSum / state.batchesDone);
    state.epochsDone += 1;
    state.batchesDone = 0;
    state.epochLossSum = 0;
    state.epochRngState = rng.state;
  }

  private progress(loss: number, lr: number, seconds: number): void {
    this.stepsHere += 1;
    this.secondsHere += seconds;
    const rate = this.stepsHere / Math.max(this.secondsHere, 1e-9);
    const { step } = this.state;
    const epochs = Math.ceil(this.totalSteps / this.stepsPerEpoch);
    this.request.onProgress?.({ step, totalSteps: this.totalSteps, epoch: this.state.epochsDone + 1, epochs, loss, lr, stepsPerSecond: rate, etaMs: ((this.totalSteps - step) / rate) * 1000 });
  }

  /** Saves the model after an epoch, scores it on the validation split and keeps it as the output when it is the best so far. */
  private async validateEpoch(): Promise<void> {
    const { state } = this;
    const epoch = state.validation.length + 1;
    const folder = path.join(runFolder(this.request.out), "epoch");
    await fs.rm(folder, { recursive: true, force: true });
    saveModelFolder(this.model, folder, this.gradient.params);
    const scores = await this.validate(folder);
    const best = state.bestEpoch === 0 || scores.CIDEr > state.validation[state.bestEpoch - 1]!.CIDEr;
    if (best) promoteModelFolder(folder, this.request.out);
    state.validation.push(scores);
    if (best) state.bestEpoch = epoch;
    this.request.onEpoch?.({ epoch, trainLoss: state.trainLoss[epoch - 1]!, validation: scores, best });
    this.say(`epoch ${epoch}: train loss ${state.trainLoss[epoch - 1]!.toFixed(4)}, validation CIDEr-D ${scores.CIDEr.toFixed(4)} BLEU-4 ${scores.Bleu_4.toFixed(4)}${best ? " (best so far: kept)" : ""}`);
  }

  private validate(folder: string): Promise<ValidationScores> {
    return scoreValidation(folder, this.data.validation, this.data.validationPixels, this.settings);
  }

  private save(): void {
    saveTrainingState(stateFile(this.request.out), this.state, this.gradient.params, this.optimizer.state());
    this.lastSave = performance.now();
  }

  /** Once the request's signal fired: saves the state (a resume continues from here) and throws the abort reason. */
  private checkAborted(): void {
    const signal = this.request.signal;
    if (!signal?.aborted) return;
    this.save();
    throw signal.reason instanceof Error ? signal.reason : new Error("the training was stopped");
  }

  private say(line: string): void {
    this.request.onMessage?.(line);
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
async function startOrResume(request: FineTuneRequest, run: RunProgress["run"], gradient: GradientStep, optimizer: Optimizer): Promise<RunProgress> {
  const say = request.onMessage ?? (() => {});
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
  let rowShape = [3, model.imageSize, model.imageSize];
  let compute = readPixels;
  if (what === "features") {
    rowShape = (await model.encode(await readPixels(0, 1), 1)).imageEmbeds.dims.slice(1);
    compute = async (start, end) => (await model.encode(await readPixels(start, end), end - start)).imageEmbeds.data as Float32Array;
  }
  return buildImageCache(items.length, rowShape, compute, { chunk: 32, memoryBytes: settings.featureMemoryBytes, file });
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
    const image = settings.trainVision ? { pixels: rowsOfImages } : { imageEmbeds: rowsOfImages };
    parts.push({ ...collate(rows.map((p) => p.ids), special), images: rows.length, imageShape: images.rowShape, ...image });
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
