// The captioning loss, as BLIP's text decoder computes it with `labels` (shared by every family): the logits at position t
// predict the token at t + 1, positions labelled -100 (padding) are ignored, the mean is over the
// remaining tokens, with PyTorch's label smoothing. Composed from engine ops, so autodiff derives
// its gradient.
import type { Tensor } from "../engine/graph.js";
import * as nn from "../engine/nn.js";
import * as op from "../engine/ops.js";

/** The label of positions the loss ignores (PyTorch's `ignore_index` default). */
export const IGNORE_INDEX = -100;

/**
 * `cross_entropy(logits[:, :-1], labels[:, 1:], ignore_index=-100, label_smoothing=ls)`, a scalar:
 * per token `(1 − ls)·(−log p[label]) + ls·mean_v(−log p[v])` (the target is the one-hot label mixed
 * with the uniform distribution), averaged over the non-ignored tokens.
 * `captionLoss(logits [b, t, vocab], labels int64 [b, t], 0.1)`
 */
export function captionLoss(logits: Tensor, labels: Tensor, labelSmoothing: number): Tensor {
  const logProbs = nn.logSoftmax(op.slice(logits, [0], [-1], [1]), -1);
  const targets = op.reshape(op.slice(labels, [1], [2 ** 53], [1]), [0, 0, 1]);
  const ignored = op.equal(targets, logits.graph.constant([IGNORE_INDEX], labels.dtype, []));
  // log p[label] picked directly (no [b, t, vocab] one-hot); ignored positions pick entry 0, weighted 0 below.
  const picked = op.gatherElements(logProbs, op.where(ignored, logits.graph.constant([0], labels.dtype, []), targets), 2);
  const nll = op.neg(picked);
  const uniform = op.neg(nn.reduceMean(logProbs, [-1]));
  const perToken = op.add(op.mul(nll, op.scalar(logits, 1 - labelSmoothing)), op.mul(uniform, op.scalar(logits, labelSmoothing)));
  const kept = op.sub(op.scalar(logits, 1), op.cast(ignored, logits.dtype));
  const total = op.reduceSum(op.mul(perToken, kept), [0, 1, 2]);
  return op.reshape(op.div(total, op.reduceSum(kept, [0, 1, 2])), []);
}
