// Loss and every gradient of BLIP's captioning loss against PyTorch's (float64, golden cases
// frozen_ls0.1, frozen_ls0.0, full_ls0.1), with the graph built in float64 too.
import test from "node:test";
import assert from "node:assert/strict";
import { TrainingStep } from "../../src/training/train_graph.js";
import { goldenBatch, goldenModel, l2, trainingArray, trainingExpected } from "./golden.js";

for (const caseName of ["frozen_ls0.1", "frozen_ls0.0", "full_ls0.1"]) {
  test(`BLIP loss and gradients match PyTorch in float64: ${caseName}`, async (t) => {
    const c = trainingExpected.cases[caseName];
    const step = await TrainingStep.compile(goldenModel(), { labelSmoothing: c.label_smoothing, trainVision: c.train_vision, dtype: "float64" }, { threads: 1 });
    const { batch, pixels } = await goldenBatch(c.batch);
    const { loss, grads } = await step.run(batch, pixels);
    await step.release();
    assert.ok(Math.abs(loss - c.loss) <= 1e-9 * Math.abs(c.loss), `loss ${loss} vs ${c.loss}`);
    assert.deepEqual([...grads.keys()].sort(), Object.keys(c.grads).sort(), "the trainable tensors");
    const norm = Math.sqrt([...grads.values()].reduce((s, g) => s + l2(g) ** 2, 0));
    assert.ok(Math.abs(norm - c.grad_global_norm) <= 1e-9 * c.grad_global_norm, `global norm ${norm} vs ${c.grad_global_norm}`);
    const report: string[] = [];
    let worstRelative = 0;
    for (const [name, key] of Object.entries(c.grads as Record<string, string>)) {
      const expected = trainingArray(key);
      const actual = grads.get(name)!;
      let worst = 0;
      for (let i = 0; i < expected.values.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected.values[i]!));
      // 1e-9 of the tensor's L2 (the README's float64 tolerance), with a floor at float64 roundoff of
      // the whole gradient: the key biases' gradients are zero in exact arithmetic (softmax ignores a
      // per-row shift), so both PyTorch's and ours are roundoff (L2 ~1e-18) and only "both ≈ 0" can hold.
      const tol = Math.max(1e-9 * expected.l2, 1e-15 * c.grad_global_norm);
      const rel = worst / expected.l2;
      if (expected.l2 > 1e-12) worstRelative = Math.max(worstRelative, rel);
      if (!(worst <= tol)) report.push(`${name}: max |Δ| ${worst.toExponential(2)} = ${rel.toExponential(2)} × L2 ${expected.l2.toExponential(2)}`);
    }
    t.diagnostic(`loss Δ ${(loss - c.loss).toExponential(2)}, global norm Δ ${(norm - c.grad_global_norm).toExponential(2)}, worst gradient max|Δ|/L2 ${worstRelative.toExponential(2)} over ${grads.size} tensors`);
    assert.deepEqual(report, []);
  });
}

test("BLIP gradients of the float32 training graph (the one training runs) match PyTorch's float64 ones within 1e-4 of each L2", async (t) => {
  const c = trainingExpected.cases["full_ls0.1"];
  const step = await TrainingStep.compile(goldenModel(), { labelSmoothing: c.label_smoothing, trainVision: c.train_vision, dtype: "float32" }, { threads: 1 });
  const { batch, pixels } = await goldenBatch(c.batch);
  const { loss, grads } = await step.run(batch, pixels);
  await step.release();
  assert.ok(Math.abs(loss - c.loss) <= 1e-6 * c.loss, `loss ${loss} vs ${c.loss}`);
  let worstRelative = 0;
  const report: string[] = [];
  for (const [name, key] of Object.entries(c.grads as Record<string, string>)) {
    const expected = trainingArray(key);
    const actual = grads.get(name)!;
    let worst = 0;
    for (let i = 0; i < expected.values.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected.values[i]!));
    // As above, with the floor at float32 roundoff of the whole gradient for the key biases.
    if (expected.l2 > 1e-12) worstRelative = Math.max(worstRelative, worst / expected.l2);
    if (!(worst <= Math.max(1e-4 * expected.l2, 1e-7 * c.grad_global_norm))) report.push(`${name}: max |Δ| ${worst.toExponential(2)}, L2 ${expected.l2.toExponential(2)}`);
  }
  t.diagnostic(`float32: loss Δ ${(loss - c.loss).toExponential(2)}, worst gradient max|Δ|/L2 ${worstRelative.toExponential(2)} over ${grads.size} tensors`);
  assert.deepEqual(report, []);
});
