// Learning-rate schedules with linear warm-up, as transformers' `get_*_schedule_with_warmup`
// (the multiplier of update `step`, counted from 0, so the very first update has lr 0 under warm-up,
// exactly as a LambdaLR stepped after each optimizer.step()).

/** Update index (0-based), warm-up length and total updates → multiplier of the peak learning rate. */
type Multiplier = (step: number, warmup: number, total: number) => number;

const warmedUp = (decay: Multiplier): Multiplier => (step, warmup, total) => (step < warmup ? step / Math.max(1, warmup) : decay(step, warmup, total));

/** The schedules by name (transformers' `SchedulerType` values). */
export const SCHEDULES = {
  /** get_linear_schedule_with_warmup: down to 0 at `total`. */
  linear: warmedUp((step, warmup, total) => Math.max(0, (total - step) / Math.max(1, total - warmup))),
  /** get_cosine_schedule_with_warmup with num_cycles 0.5: half a cosine from 1 to 0. */
  cosine: warmedUp((step, warmup, total) => {
    const progress = (step - warmup) / Math.max(1, total - warmup);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  }),
  /** get_constant_schedule_with_warmup. */
  constant: warmedUp(() => 1),
} as const satisfies Record<string, Multiplier>;

export type ScheduleKind = keyof typeof SCHEDULES;

export interface Schedule {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * The learning rate of update `step` (0-based).
 * learningRate(25, { kind: "linear", lr: 1e-3, warmupSteps: 50, totalSteps: 1110 }) → 5e-4
 */
export function learningRate(step: number, s: Schedule): number {
  return s.lr * SCHEDULES[s.kind](step, s.warmupSteps, s.totalSteps);
}
