// Stand-ins for the engine's gradient step and AdamW with known behaviour: a quadratic loss whose
// minimum moves with the batch (so batch order and content matter), and SGD with momentum (so the
// optimiser has state a resume must restore).
import { openCheckpoint } from "../../src/engine/checkpoint/index.js";
import type { GradientResult, GradientStep, Optimizer, OptimizerState, TrainableTensor, TrainingBackend, TrainingBatch } from "../../src/training/step.js";

/** The checkpoint's tensors whose names start with `prefix`, as trainable copies. */
export function trainableFrom(folder: string, prefix: string): TrainableTensor[] {
  const ckpt = openCheckpoint(folder);
  return ckpt.names().filter((n) => n.startsWith(prefix)).map((name) => {
    const e = ckpt.get(name)!;
    return { name, shape: e.shape, values: new Float32Array(e.bytes.buffer.slice(e.bytes.byteOffset, e.bytes.byteOffset + e.bytes.byteLength)) };
  });
}

/** What the batch pulls every weight towards: a number that depends on its tokens and images. */
export function batchTarget(batch: TrainingBatch): number {
  let s = 0;
  batch.labels.forEach((row, r) => row.forEach((id, t) => (s += id === -100 ? 0 : (id * (t + 1) * (r + 1)) % 97)));
  const images = batch.imageEmbeds ?? batch.pixels!;
  let m = 0;
  for (let i = 0; i < images.length; i += 7) m += images[i]!;
  return (s % 13) / 13 - 0.5 + m / images.length;
}

/** loss = ½ Σ (w − target)² over every parameter; the gradient is w − target. */
export class QuadraticStep implements GradientStep {
  runs: TrainingBatch[] = [];
  constructor(readonly params: TrainableTensor[], private readonly failAtRun = Infinity) {}

  async run(batch: TrainingBatch): Promise<GradientResult> {
    if (this.runs.length >= this.failAtRun) throw new Error("simulated crash");
    this.runs.push(batch);
    const target = batchTarget(batch);
    let loss = 0;
    const grads = new Map<string, Float32Array>();
    for (const p of this.params) {
      const g = new Float32Array(p.values.length);
      for (let i = 0; i < g.length; i++) (g[i] = p.values[i]! - target), (loss += 0.5 * g[i]! * g[i]!);
      grads.set(p.name, g);
    }
    return { loss, grads };
  }

  async release(): Promise<void> {}
}

/**
 * A loss that is a mean over target tokens, like the captioning loss: each target token pulls every
 * weight towards id / 100. Accumulating micro-batches weighted by their tokens must give its whole-batch gradient.
 */
export class TokenMeanStep extends QuadraticStep {
  override async run(batch: TrainingBatch): Promise<GradientResult> {
    this.runs.push(batch);
    const targets = batch.labels.flatMap((row) => row.slice(1).filter((id) => id !== -100).map((id) => id / 100));
    let loss = 0;
    const grads = new Map<string, Float32Array>();
    for (const p of this.params) {
      const g = new Float32Array(p.values.length);
      for (let i = 0; i < g.length; i++) {
        let sum = 0;
        for (const t of targets) (sum += p.values[i]! - t), (loss += (0.5 * (p.values[i]! - t) ** 2) / targets.length);
        g[i] = sum / targets.length;
      }
      grads.set(p.name, g);
    }
    return { loss, grads };
  }
}

/** SGD with momentum 0.9 and global-norm clipping. */
export class MomentumSgd implements Optimizer {
  private steps = 0;
  private readonly momentum = new Map<string, Float32Array>();
  constructor(private readonly params: readonly TrainableTensor[], private readonly clip: number | null) {
    for (const p of params) this.momentum.set(p.name, new Float32Array(p.values.length));
  }

  step(grads: ReadonlyMap<string, Float32Array>, lr: number): number {
    let sq = 0;
    for (const g of grads.values()) for (const x of g) sq += x * x;
    const norm = Math.sqrt(sq);
    const scale = this.clip === null ? 1 : Math.min(1, this.clip / (norm + 1e-6));
    this.steps += 1;
    for (const p of this.params) {
      const g = grads.get(p.name)!;
      const m = this.momentum.get(p.name)!;
      for (let i = 0; i < g.length; i++) (m[i] = 0.9 * m[i]! + scale * g[i]!), (p.values[i] = p.values[i]! - lr * m[i]!);
    }
    return norm;
  }

  state(): OptimizerState {
    return { steps: this.steps, buffers: new Map([...this.momentum].map(([k, v]) => [`momentum.${k}`, Float32Array.from(v)])) };
  }

  load(state: OptimizerState): void {
    this.steps = state.steps;
    for (const [k, v] of this.momentum) v.set(state.buffers.get(`momentum.${k}`)!);
  }
}

/** A backend over the fakes; `steps` collects every step it created (to inspect the runs). */
export function fakeBackend(prefix = "text_decoder.", failAtRun = Infinity, Step: typeof QuadraticStep = QuadraticStep): TrainingBackend & { steps: QuadraticStep[] } {
  const steps: QuadraticStep[] = [];
  return {
    steps,
    async createStep(folder) {
      const step = new Step(trainableFrom(folder, prefix), failAtRun);
      steps.push(step);
      return step;
    },
    createOptimizer: (params, opts) => new MomentumSgd(params, opts.clipGradNorm),
  };
}
