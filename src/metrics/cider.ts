// CIDEr-D as pycocoevalcap's Cider() (n = 4, sigma = 6): tf-idf n-gram vectors whose
// document frequencies come from the references of this corpus only, clipped similarity,
// a Gaussian length penalty, averaged over references and orders, times 10.
import { ngramCounts, ngramOrder, pySplit } from "./text.js";

const N = 4;
const SIGMA = 6;

interface Vec {
  weights: Map<string, number>[];
  norms: number[];
  length: number;
}

function toVec(counts: Map<string, number>, df: Map<string, number>, logImages: number): Vec {
  const weights = Array.from({ length: N }, () => new Map<string, number>());
  const squares = new Array<number>(N).fill(0);
  let length = 0;
  for (const [g, tf] of counts) {
    const n = ngramOrder(g) - 1;
    const w = tf * (logImages - Math.log(Math.max(1, df.get(g) ?? 0)));
    weights[n].set(g, w);
    squares[n] += w ** 2;
    if (n === 1) length += tf; // pycocoevalcap counts bigrams as the "length"
  }
  return { weights, norms: squares.map(Math.sqrt), length };
}

function similarity(hyp: Vec, ref: Vec): number[] {
  const delta = hyp.length - ref.length;
  const val = new Array<number>(N).fill(0);
  for (let n = 0; n < N; n++) {
    for (const [g, w] of hyp.weights[n]) {
      const r = ref.weights[n].get(g) ?? 0;
      val[n] += Math.min(w, r) * r;
    }
    if (hyp.norms[n] !== 0 && ref.norms[n] !== 0) val[n] /= hyp.norms[n] * ref.norms[n];
    val[n] *= Math.E ** (-(delta ** 2) / (2 * SIGMA ** 2));
  }
  return val;
}

/** CIDEr-D of every item of one corpus and their mean. ciderD(items).items[i] is item i's score. */
export function ciderD(items: readonly { prediction: string; references: readonly string[] }[]): { corpus: number; items: number[] } {
  const refCounts = items.map((it) => it.references.map((r) => ngramCounts(pySplit(r), N)));
  const df = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const c of refs) for (const g of c.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const logImages = Math.log(items.length);
  const scores = items.map((it, i) => {
    const hyp = toVec(ngramCounts(pySplit(it.prediction), N), df, logImages);
    const total = new Array<number>(N).fill(0);
    for (const rc of refCounts[i]) {
      const s = similarity(hyp, toVec(rc, df, logImages));
      for (let n = 0; n < N; n++) total[n] += s[n];
    }
    let avg = 0;
    for (const t of total) avg += t;
    avg /= N;
    return (avg / refCounts[i].length) * 10;
  });
  let sum = 0;
  for (const s of scores) sum += s;
  return { corpus: sum / scores.length, items: scores };
}
