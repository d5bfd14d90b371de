// Meteor 1.5's Aligner with the exact, stem and synonym modules: every module proposes
// one-word matches, unambiguous one-to-one matches are fixed, and a beam search (width 40)
// resolves the rest. The search keeps Meteor's quirks: its match counters are Java ints
// incremented by `length * weight` with weights 1.0 (exact) and 0.5 (others), so a non-exact
// match adds (int)0.5 = 0; paths are ordered by that count, then fewer chunks, then "distance",
// which Meteor updates on the parent path instead of the new one.
import { snowballStem } from "../snowball.js";
import { javaHash, synonymDictionary } from "./resources.js";

export const MODULE_EXACT = 0;
export const MODULE_STEM = 1;
export const MODULE_SYNONYM = 2;

const SEARCH_WEIGHT = [1.0, 0.5, 0.5];
const BEAM_SIZE = 40;

/** A one-word match: reference word `start` (line 2) with test word `matchStart` (line 1). */
interface Match {
  module: number;
  start: number;
  matchStart: number;
}

class PartialAlignment {
  matches: (Match | null)[];
  matches1 = 0;
  matches2 = 0;
  chunks = 0;
  idx = 0;
  lastMatchEnd = -1;
  distance = 0;
  used1: boolean[];
  used2: boolean[];

  constructor(matches: (Match | null)[], used1: boolean[], used2: boolean[]) {
    this.matches = matches.slice();
    this.used1 = used1.slice();
    this.used2 = used2.slice();
  }

  copy(): PartialAlignment {
    const p = new PartialAlignment(this.matches, this.used1, this.used2);
    p.matches1 = this.matches1;
    p.matches2 = this.matches2;
    p.chunks = this.chunks;
    p.idx = this.idx;
    p.lastMatchEnd = this.lastMatchEnd;
    p.distance = this.distance;
    return p;
  }

  /** Take match m into this path (Java: matches += (int)(matches + 1 * weight)). */
  take(m: Match): void {
    const w = SEARCH_WEIGHT[m.module];
    this.matches1 = Math.trunc(this.matches1 + w);
    this.matches2 = Math.trunc(this.matches2 + w);
    if (this.lastMatchEnd !== -1 && m.matchStart !== this.lastMatchEnd) this.chunks++;
    this.idx = m.start + 1;
    this.lastMatchEnd = m.matchStart + 1;
  }
}

// Constants.PARTIAL_COMPARE_TOTAL; Array.prototype.sort is stable like Collections.sort.
function compare(x: PartialAlignment, y: PartialAlignment): number {
  const matchDiff = y.matches1 + y.matches2 - (x.matches1 + x.matches2);
  if (matchDiff !== 0) return matchDiff > 0 ? 1 : -1;
  if (x.chunks !== y.chunks) return x.chunks - y.chunks;
  return x.distance - y.distance;
}

/** The aligner's output: per-module content/function match counts and the chunk count. */
export interface AlignmentCounts {
  testLength: number;
  referenceLength: number;
  testFunctionWords: number;
  referenceFunctionWords: number;
  contentMatches1: number[];
  contentMatches2: number[];
  functionMatches1: number[];
  functionMatches2: number[];
  chunks: number;
}

const synonymCache = new Map<string, Set<number>>();

/** Synsets of a word and of its lemma, as Meteor's SynonymMatcher unions them (memoised). */
function synonymSets(word: string): Set<number> {
  let set = synonymCache.get(word);
  if (set === undefined) {
    const dict = synonymDictionary();
    set = new Set([...dict.synSets(word), ...dict.stemSynSets(word)]);
    if (synonymCache.size > 100_000) synonymCache.clear();
    synonymCache.set(word, set);
  }
  return set;
}

function findMatches(words1: string[], words2: string[], moduleCount: number) {
  const keys1 = words1.map(javaHash), keys2 = words2.map(javaHash);
  const matches: Match[][] = words2.map(() => []);
  const cover1 = new Array<number>(words1.length).fill(0);
  const cover2 = new Array<number>(words2.length).fill(0);
  const add = (module: number, j: number, i: number) => {
    matches[j].push({ module, start: j, matchStart: i });
    cover1[i]++;
    cover2[j]++;
  };
  for (let j = 0; j < words2.length; j++) for (let i = 0; i < words1.length; i++) if (keys1[i] === keys2[j]) add(MODULE_EXACT, j, i);
  if (moduleCount > MODULE_STEM) {
    const stems1 = words1.map((w) => javaHash(snowballStem(w))), stems2 = words2.map((w) => javaHash(snowballStem(w)));
    for (let j = 0; j < words2.length; j++) {
      for (let i = 0; i < words1.length; i++) if (stems1[i] === stems2[j] && keys1[i] !== keys2[j]) add(MODULE_STEM, j, i);
    }
  }
  if (moduleCount > MODULE_SYNONYM) {
    const syn1 = words1.map(synonymSets), syn2 = words2.map(synonymSets);
    for (let j = 0; j < words2.length; j++) {
      for (let i = 0; i < words1.length; i++) {
        if (keys1[i] === keys2[j]) continue;
        let shared = false;
        for (const s of syn1[i]) if (syn2[j].has(s)) { shared = true; break; }
        if (shared) add(MODULE_SYNONYM, j, i);
      }
    }
  }
  return { matches, cover1, cover2 };
}

function resolve(candidates: Match[][], start: PartialAlignment): PartialAlignment {
  let next: PartialAlignment[] = [start];
  for (let current = 0; current <= candidates.length; current++) {
    const paths = next.sort(compare);
    next = [];
    for (let rank = 0; rank < BEAM_SIZE && rank < paths.length; rank++) {
      const path = paths[rank];
      if (current === candidates.length) {
        if (path.lastMatchEnd !== -1) path.chunks++;
        next.push(path);
        continue;
      }
      if (path.used2[current]) {
        if (current < path.idx) next.push(path);
        else {
          const m = path.matches[path.idx];
          if (m) {
            path.take(m);
            path.distance += Math.abs(m.start - m.matchStart);
            next.push(path);
          }
        }
        continue;
      }
      for (const m of candidates[current]) {
        if (path.used2[m.start] || path.used1[m.matchStart]) continue;
        const np = path.copy();
        np.used2[m.start] = true;
        np.used1[m.matchStart] = true;
        np.matches[current] = m;
        np.take(m);
        path.distance += Math.abs(m.start - m.matchStart); // sic: Meteor updates the parent path
        next.push(np);
      }
      if (path.lastMatchEnd !== -1) {
        path.chunks++;
        path.lastMatchEnd = -1;
      }
      path.idx++;
      next.push(path);
    }
    if (next.length === 0) next.push(paths[0]);
  }
  return next.sort(compare)[0];
}

/** Align test words (line 1) to reference words (line 2) with the first `moduleCount` modules. */
export function align(words1: string[], words2: string[], functionWords: ReadonlySet<string>, moduleCount = 3): AlignmentCounts {
  // Identical sentences only need exact matches (Meteor's guard against beam search errors).
  const identical = words1.length === words2.length && words1.every((w, i) => javaHash(w) === javaHash(words2[i]));
  const { matches, cover1, cover2 } = findMatches(words1, words2, identical ? 1 : moduleCount);
  const start = new PartialAlignment(new Array(words2.length).fill(null), new Array(words1.length).fill(false), new Array(words2.length).fill(false));
  for (let j = 0; j < matches.length; j++) {
    if (matches[j].length !== 1) continue;
    const m = matches[j][0];
    if (cover2[j] === 1 && cover1[m.matchStart] === 1) {
      start.matches[j] = m;
      start.used2[j] = true;
      start.used1[m.matchStart] = true;
    }
  }
  const best = resolve(matches, start);
  const isFn1 = words1.map((w) => functionWords.has(w.toLowerCase()));
  const isFn2 = words2.map((w) => functionWords.has(w.toLowerCase()));
  const zeros = () => new Array<number>(moduleCount).fill(0);
  const counts: AlignmentCounts = {
    testLength: words1.length, referenceLength: words2.length,
    testFunctionWords: isFn1.filter(Boolean).length, referenceFunctionWords: isFn2.filter(Boolean).length,
    contentMatches1: zeros(), contentMatches2: zeros(), functionMatches1: zeros(), functionMatches2: zeros(), chunks: 0,
  };
  let lastMatchEnd = -1;
  for (const m of best.matches) {
    if (m === null) {
      if (lastMatchEnd !== -1) { counts.chunks++; lastMatchEnd = -1; }
      continue;
    }
    if (isFn1[m.matchStart]) counts.functionMatches1[m.module]++;
    else counts.contentMatches1[m.module]++;
    if (isFn2[m.start]) counts.functionMatches2[m.module]++;
    else counts.contentMatches2[m.module]++;
    if (lastMatchEnd !== -1 && m.matchStart !== lastMatchEnd) counts.chunks++;
    lastMatchEnd = m.matchStart + 1;
  }
  if (lastMatchEnd !== -1) counts.chunks++;
  return counts;
}
