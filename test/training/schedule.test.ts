// The schedules against transformers' formulas (optimization.py: get_linear_schedule_with_warmup,
// get_cosine_schedule_with_warmup with num_cycles 0.5, get_constant_schedule_with_warmup).
import test from "node:test";
import assert from "node:assert/strict";
import { learningRate, type ScheduleKind } from "../../src/training/schedule.js";

const recipe = (kind: ScheduleKind) => ({ kind, lr: 1e-3, warmupSteps: 50, totalSteps: 1110 });
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-15, `${a} vs ${b}`);

test("linear: warm-up from 0, then down to 0 at the last step", () => {
  const lr = (s: number) => learningRate(s, recipe("linear"));
  close(lr(0), 0); // transformers' first update has lr 0
  close(lr(1), 1e-3 * (1 / 50));
  close(lr(25), 5e-4);
  close(lr(49), 1e-3 * (49 / 50));
  close(lr(50), 1e-3);
  close(lr(580), 1e-3 * ((1110 - 580) / (1110 - 50)));
  close(lr(1109), 1e-3 * (1 / 1060));
  close(lr(1110), 0);
  close(lr(2000), 0);
});

test("cosine: half a cosine after warm-up", () => {
  const lr = (s: number) => learningRate(s, recipe("cosine"));
  close(lr(25), 5e-4);
  close(lr(50), 1e-3);
  close(lr(315), 1e-3 * 0.5 * (1 + Math.cos(Math.PI * 0.25)));
  close(lr(580), 5e-4);
  close(lr(1110), 0);
});

test("constant after warm-up; no warm-up starts at the peak", () => {
  close(learningRate(10, recipe("constant")), 2e-4);
  close(learningRate(900, recipe("constant")), 1e-3);
  close(learningRate(0, { ...recipe("linear"), warmupSteps: 0 }), 1e-3);
});
