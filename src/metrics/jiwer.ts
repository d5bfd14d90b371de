// jiwer 4.0 WER/MER/WIL/WIP and CER with its default transforms. The edit distance is unique,
// but the split into substitutions/deletions/insertions follows rapidfuzz's backtracking:
// strip the common prefix and suffix, then walk back from the end preferring a deletion,
// then an insertion (tested one row up, as rapidfuzz's bit-parallel matrix does), then the diagonal.
import { PY_WHITESPACE, pyStrip } from "./text.js";

/** Hit/substitution/deletion/insertion counts of one alignment. */
export interface EditCounts {
  hits: number;
  substitutions: number;
  deletions: number;
  insertions: number;
}

/** Counts for transforming `ref` into `hyp` with rapidfuzz's choice among optimal alignments. */
export function editCounts<T>(ref: readonly T[], hyp: readonly T[]): EditCounts {
  let prefix = 0;
  while (prefix < ref.length && prefix < hyp.length && ref[prefix] === hyp[prefix]) prefix++;
  let suffix = 0;
  while (suffix < ref.length - prefix && suffix < hyp.length - prefix &&
    ref[ref.length - 1 - suffix] === hyp[hyp.length - 1 - suffix]) suffix++;
  const s1 = ref.slice(prefix, ref.length - suffix);
  const s2 = hyp.slice(prefix, hyp.length - suffix);
  const rows = s1.length + 1, cols = s2.length + 1;
  // d[j][i]: distance between s1[:i] and s2[:j] (column-major like rapidfuzz's VP/VN per s2 char).
  const d: Int32Array[] = [];
  for (let j = 0; j < cols; j++) {
    const col = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      if (j === 0) col[i] = i;
      else if (i === 0) col[i] = j;
      else {
        const prev = d[j - 1];
        col[i] = Math.min(prev[i] + 1, col[i - 1] + 1, prev[i - 1] + (s1[i - 1] === s2[j - 1] ? 0 : 1));
      }
    }
    d.push(col);
  }
  let S = 0, D = 0, I = 0;
  let col = s1.length, row = s2.length;
  while (row !== 0 && col !== 0) {
    if (d[row][col] - d[row][col - 1] === 1) {
      D++;
      col--;
    } else {
      row--;
      if (row !== 0 && d[row][col] - d[row][col - 1] === -1) I++;
      else {
        col--;
        if (s1[col] !== s2[row]) S++;
      }
    }
  }
  D += col;
  I += row;
  return { hits: ref.length - S - D, substitutions: S, deletions: D, insertions: I };
}

const MULTI_SPACE = new RegExp(`[${PY_WHITESPACE}][${PY_WHITESPACE}]+`, "g");

/** jiwer's wer_default: RemoveMultipleSpaces, Strip, split on " " dropping empty strings. */
export function jiwerWords(s: string): string[] {
  return pyStrip(s.replace(MULTI_SPACE, " ")).split(" ").filter((w) => w.length > 0);
}

/** jiwer's cer_default: Strip, then Python characters (code points). */
export function jiwerChars(s: string): string[] {
  return Array.from(pyStrip(s));
}

/** WER-family measures from summed counts, as jiwer.process_words computes them. */
export function werMeasures(c: EditCounts, refWords: number, hypWords: number): { wer: number; mer: number; wil: number; wip: number } {
  const { hits: H, substitutions: S, deletions: D, insertions: I } = c;
  // An empty reference makes jiwer divide by zero; report the insertion count like the README says.
  const wer = H + S + D > 0 ? (S + D + I) / (H + S + D) : I;
  const mer = H + S + D + I > 0 ? (S + D + I) / (H + S + D + I) : 0;
  // jiwer 4: an empty reference with an empty hypothesis is a perfect match (silence recognised as
  // silence: wip 1, wil 0); an empty side against a non-empty one preserves nothing.
  const wip = hypWords >= 1 && refWords >= 1 ? (H / refWords) * (H / hypWords) : hypWords === 0 && refWords === 0 ? 1 : 0;
  return { wer, mer, wil: 1 - wip, wip };
}

/** Per-item jiwer output (word and character level). */
export interface JiwerItem {
  wer: number; mer: number; wil: number; wip: number;
  hits: number; substitutions: number; deletions: number; insertions: number;
  ref_words: string[]; hyp_words: string[];
  cer: number; char_hits: number; char_substitutions: number; char_deletions: number; char_insertions: number;
}

/** Corpus jiwer output: totals over every pair, then the measures. */
export interface JiwerCorpus {
  wer: number; mer: number; wil: number; wip: number;
  hits: number; substitutions: number; deletions: number; insertions: number;
  cer: number; char_hits: number; char_substitutions: number; char_deletions: number; char_insertions: number;
}

/** jiwer.wer/cer over reference/hypothesis pairs. jiwerMeasures(["a b"], ["a c"]).corpus.wer → 0.5 */
export function jiwerMeasures(references: readonly string[], hypotheses: readonly string[]): { corpus: JiwerCorpus; items: JiwerItem[] } {
  const wordTotal: EditCounts = { hits: 0, substitutions: 0, deletions: 0, insertions: 0 };
  const charTotal: EditCounts = { hits: 0, substitutions: 0, deletions: 0, insertions: 0 };
  let refW = 0, hypW = 0, refC = 0, hypC = 0;
  const items = references.map((reference, i) => {
    const ref = jiwerWords(reference), hyp = jiwerWords(hypotheses[i]);
    const wc = editCounts(ref, hyp);
    const rc = jiwerChars(reference), hc = jiwerChars(hypotheses[i]);
    const cc = editCounts(rc, hc);
    for (const k of ["hits", "substitutions", "deletions", "insertions"] as const) {
      wordTotal[k] += wc[k];
      charTotal[k] += cc[k];
    }
    refW += ref.length; hypW += hyp.length; refC += rc.length; hypC += hc.length;
    return {
      ...werMeasures(wc, ref.length, hyp.length), ...wc, ref_words: ref, hyp_words: hyp,
      cer: werMeasures(cc, rc.length, hc.length).wer, char_hits: cc.hits, char_substitutions: cc.substitutions,
      char_deletions: cc.deletions, char_insertions: cc.insertions,
    };
  });
  const corpus = {
    ...werMeasures(wordTotal, refW, hypW), ...wordTotal,
    cer: werMeasures(charTotal, refC, hypC).wer, char_hits: charTotal.hits, char_substitutions: charTotal.substitutions,
    char_deletions: charTotal.deletions, char_insertions: charTotal.insertions,
  };
  return { corpus, items };
}
