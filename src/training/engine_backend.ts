// The training loop's backend on our engine: a TrainableModel's compiled step (loss and gradients of
// its trainable weights) as a GradientStep, AdamW as the Optimizer. Every family that the loader
// table can train (`loadTrainableModel`) trains through this.
import { loadTrainableModel } from "../models/index.js";
import { AdamW } from "./optimizer.js";
import type { GradientResult, GradientStep, GradientStepOptions, TrainableTensor, TrainingBackend, TrainingBatch } from "./step.js";
import { TrainingStep } from "./train_graph.js";

class EngineGradientStep implements GradientStep {
  constructor(private readonly step: TrainingStep) {}

  static async create(folder: string, opts: GradientStepOptions): Promise<EngineGradientStep> {
    const model = loadTrainableModel(folder);
    const step = await TrainingStep.compile(model, { labelSmoothing: opts.labelSmoothing, trainVision: opts.trainVision }, { threads: opts.threads });
    // The loop caches the frozen tower's features itself (the model's own vision graph): free this one.
    if (!opts.trainVision) await step.releaseImageFeatures();
    return new EngineGradientStep(step);
  }

  /** float32 training: the step's weights are Float32Arrays. */
  get params(): readonly TrainableTensor[] {
    return this.step.params as readonly TrainableTensor[];
  }

  async run(batch: TrainingBatch): Promise<GradientResult> {
    const { loss, grads } = await this.step.run(batch, batch.pixels ? { pixels: batch.pixels } : { imageEmbeds: batch.imageEmbeds! });
    return { loss, grads: grads as Map<string, Float32Array> };
  }

  release(): Promise<void> {
    return this.step.release();
  }
}

export const engineTraining: TrainingBackend = {
  createStep: (folder, opts) => EngineGradientStep.create(folder, opts),
  createOptimizer: (params, opts) => new AdamW(params, { lr: 0, ...opts }),
};
