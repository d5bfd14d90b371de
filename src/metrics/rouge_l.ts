// ROUGE-L as pycocoevalcap's Rouge(): tokens are `s.split(" ")`, precision and recall are
// maximised independently over the references, then combined with beta = 1.2.
const BETA = 1.2;

/** Length of the longest common subsequence of two token lists. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length < b.length) [a, b] = [b, a];
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** ROUGE-L F of one candidate. rougeL("a b c", ["a c"]) ≈ 0.7869 */
export function rougeL(candidate: string, references: readonly string[]): number {
  const cand = candidate.split(" ");
  let pMax = 0, rMax = 0;
  for (const ref of references) {
    const toks = ref.split(" ");
    const lcs = lcsLength(toks, cand);
    pMax = Math.max(pMax, lcs / cand.length);
    rMax = Math.max(rMax, lcs / toks.length);
  }
  if (pMax === 0 || rMax === 0) return 0;
  return ((1 + BETA ** 2) * pMax * rMax) / (rMax + BETA ** 2 * pMax);
}
