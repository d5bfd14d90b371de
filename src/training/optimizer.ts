// AdamW on JS-held Float32Arrays (the trainable weights a training graph is fed each step), with
// PyTorch's semantics: decoupled weight decay on every tensor it is given, bias-corrected moments,
// and optional clipping of the global gradient norm before the step (`clip_grad_norm_`). State is
// float32 like PyTorch's; each element's update is computed in double and stored as float32.

/** A trainable tensor whose values the optimiser updates in place. */
export interface OptimisedTensor {
  readonly name: string;
  readonly values: Float32Array | Float64Array;
}

export interface AdamWOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  /** Decoupled: `w ← w·(1 − lr·weightDecay)` before the Adam update (torch.optim.AdamW). */
  weightDecay: number;
  /** Clip the gradients' global L2 norm to this before each step (null: no clipping). */
  clipGradNorm: number | null;
}

/** PyTorch's defaults (`torch.optim.AdamW()`), without clipping. */
export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, clipGradNorm: null };

type Values = Float32Array | Float64Array;

/** The L2 norm of all gradients together (the norm of the per-tensor norms): `globalNorm(grads.values())`. */
export function globalNorm(grads: Iterable<ArrayLike<number>>): number {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
  return Math.sqrt(sum);
}

/**
 * `clip_grad_norm_`: scales every gradient by `maxNorm / (norm + 1e-6)` when that is below 1, in
 * place; returns the norm before clipping. `clipGradNorm(grads, 1.0)`
 */
export function clipGradNorm(grads: Iterable<Values>, maxNorm: number): number {
  const list = [...grads];
  const norm = globalNorm(list);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  if (coef < 1) for (const g of list) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  return norm;
}

/**
 * `const opt = new AdamW(step.params, { ...ADAMW_DEFAULTS, clipGradNorm: 1 }); opt.step(grads)`.
 * Gradients are looked up by tensor name; a tensor without one is left alone that step.
 */
export class AdamW {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(
    readonly params: readonly OptimisedTensor[],
    readonly opts: AdamWOptions = ADAMW_DEFAULTS,
  ) {
    this.m = params.map((p) => new Float32Array(p.values.length));
    this.v = params.map((p) => new Float32Array(p.values.length));
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /** The moments and step count, named like PyTorch's state (`exp_avg.<name>`, `exp_avg_sq.<name>`), for resuming. */
  state(): { steps: number; buffers: Map<string, Float32Array> } {
    const buffers = new Map<string, Float32Array>();
    this.params.forEach((p, k) => (buffers.set(`exp_avg.${p.name}`, this.m[k]!), buffers.set(`exp_avg_sq.${p.name}`, this.v[k]!)));
    return { steps: this.t, buffers };
  }

  /** Restores what `state()` returned; every tensor's moments must be there with the right size. */
  load(state: { steps: number; buffers: ReadonlyMap<string, Float32Array> }): void {
    this.params.forEach((p, k) => {
      for (const [kind, into] of [["exp_avg", this.m[k]!], ["exp_avg_sq", this.v[k]!]] as const) {
        const saved = state.buffers.get(`${kind}.${p.name}`);
        if (!saved || saved.length !== into.length) throw new Error(`the optimiser state has no ${kind} of ${p.name} with ${into.length} values; was it saved for another model?`);
        into.set(saved);
      }
    });
    this.t = state.steps;
  }

  /**
   * Clips (if configured; `grads` are scaled in place) and updates every parameter with learning rate
   * `lr` (a schedule's value; default the configured one); returns the norm before clipping.
   */
  step(grads: ReadonlyMap<string, Values>, lr = this.opts.lr): number {
    const { betas: [b1, b2], eps, weightDecay, clipGradNorm: maxNorm } = this.opts;
    const present = this.params.map((p) => grads.get(p.name));
    const norm = globalNorm(present.filter((g): g is Values => g !== undefined));
    const coef = maxNorm === null ? 1 : Math.min(1, maxNorm / (norm + 1e-6));
    this.t += 1;
    const k = { coef, b1, b2, decay: 1 - lr * weightDecay, stepSize: lr / (1 - b1 ** this.t), correction2: Math.sqrt(1 - b2 ** this.t), eps };
    this.params.forEach((p, i) => {
      const g = present[i];
      if (g) update(p.values, g, this.m[i]!, this.v[i]!, k);
    });
    return norm;
  }
}

interface UpdateConstants {
  /** Clipping factor (1: none). */
  coef: number;
  b1: number;
  b2: number;
  /** `1 − lr·weightDecay`. */
  decay: number;
  /** `lr / (1 − β₁ᵗ)`. */
  stepSize: number;
  /** `√(1 − β₂ᵗ)`. */
  correction2: number;
  eps: number;
}

/**
 * One tensor's clipping and AdamW update in a single pass (torch.optim.AdamW's arithmetic, each
 * element in double): no allocation, each array read once.
 */
function update(w: Values, g: Values, m: Float32Array, v: Float32Array, k: UpdateConstants): void {
  const { coef, b1, b2, decay, stepSize, correction2, eps } = k;
  const [c1, c2] = [1 - b1, 1 - b2];
  // Values are read back after each store: PyTorch rounds the scaled gradient and the moments to
  // float32 before using them, and so must this.
  for (let i = 0; i < w.length; i++) {
    if (coef < 1) g[i] = g[i]! * coef;
    const gi = g[i]!;
    m[i] = b1 * m[i]! + c1 * gi;
    v[i] = b2 * v[i]! + c2 * gi * gi;
    w[i] = w[i]! * decay - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / correction2 + eps);
  }
}
