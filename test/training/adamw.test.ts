// Two AdamW steps (clipping at global norm 1, decoupled weight decay) on the golden batches b1, b2,
// gradients from our float32 training graph, against PyTorch's parameters after the two steps.
import test from "node:test";
import assert from "node:assert/strict";
import { AdamW, clipGradNorm, globalNorm } from "../../src/training/optimizer.js";
import { TrainingStep } from "../../src/training/train_graph.js";
import { goldenBatch, goldenModel, trainingArray, trainingExpected } from "./golden.js";

test("clipGradNorm scales every gradient to the global norm, and only when above it", () => {
  const grads = [Float32Array.from([3, 0]), Float32Array.from([4])];
  assert.equal(clipGradNorm(grads, 10), 5);
  assert.deepEqual(Array.from(grads[1]!), [4]);
  assert.equal(clipGradNorm(grads, 1), 5);
  assert.ok(Math.abs(globalNorm(grads) - 5 / (5 + 1e-6)) < 1e-6);
});

test("AdamW: two steps on b1, b2 match torch.optim.AdamW + clip_grad_norm_ (1e-5 abs; 1e-4 where the gradient is roundoff)", async (t) => {
  const c = trainingExpected.cases.adamw_2_steps;
  const o = c.optimizer;
  const step = await TrainingStep.compile(goldenModel(), { labelSmoothing: c.label_smoothing, trainVision: c.train_vision, dtype: "float32" }, { threads: 1 });
  const opt = new AdamW(step.params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay, clipGradNorm: o.clip_grad_norm });
  for (const [i, name] of (c.batches as string[]).entries()) {
    const { batch, pixels } = await goldenBatch(name);
    const { loss, grads } = await step.run(batch, pixels);
    const norm = opt.step(grads);
    const expected = c.steps[i];
    t.diagnostic(`step ${i + 1}: loss ${loss} (PyTorch ${expected.loss}), grad norm ${norm} (PyTorch ${expected.grad_norm_before_clip})`);
    assert.ok(Math.abs(loss - expected.loss) <= 1e-5 * expected.loss, `step ${i + 1} loss`);
    assert.ok(Math.abs(norm - expected.grad_norm_before_clip) <= 1e-5 * expected.grad_norm_before_clip, `step ${i + 1} grad norm`);
  }
  await step.release();
  assert.deepEqual(step.params.map((p) => p.name).sort(), Object.keys(c.params_after).sort());
  // Adam divides each gradient by its own magnitude, so where the true gradient is at float32
  // roundoff level its update is lr·g/(|g| + eps) of roundoff: any two float32 implementations differ
  // there by up to lr per step. Those elements are found from PyTorch's float64 gradient of step 1
  // (case frozen_ls0.1: same batch, same weights): the key biases (gradient zero in exact arithmetic,
  // softmax ignores a per-row shift) and entries below 1e-6 of their tensor's L2. They must stay
  // within 1e-4; every other element within the README's 1e-5.
  const reference = trainingExpected.cases["frozen_ls0.1"];
  let worst = 0;
  let worstRoundoff = 0;
  let roundoffElements = 0;
  const report: string[] = [];
  for (const p of step.params) {
    const expected = trainingArray(c.params_after[p.name]).values;
    const g1 = trainingArray(reference.grads[p.name]);
    const zeroTensor = g1.l2 <= 1e-12 * reference.grad_global_norm;
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(p.values[i]! - expected[i]!);
      // (An exactly zero gradient, e.g. embedding rows of tokens absent from the batch, is exact in both.)
      const roundoff = zeroTensor || (g1.values[i] !== 0 && Math.abs(g1.values[i]!) <= 1e-6 * g1.l2);
      if (roundoff) (roundoffElements += 1), (worstRoundoff = Math.max(worstRoundoff, d));
      else worst = Math.max(worst, d);
      if (!(d <= (roundoff ? 1e-4 : 1e-5))) report.push(`${p.name}[${i}]: |Δ| ${d.toExponential(2)}${roundoff ? " (roundoff gradient)" : ""}`);
    }
  }
  t.diagnostic(`parameters after two steps: worst |Δ| ${worst.toExponential(2)}; ${roundoffElements} elements with a roundoff-level gradient: worst |Δ| ${worstRoundoff.toExponential(2)}`);
  assert.deepEqual(report, []);
});
