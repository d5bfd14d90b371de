// The Snowball English ("Porter2") stemmer as generated into Java (org.tartarus.snowball
// englishStemmer) and shipped with Meteor 1.5. Suffix choices follow Snowball's `among`:
// the longest listed suffix that matches is chosen first, and only then is its condition checked.
import { memoizeWords } from "./text.js";

const EXCEPTIONS1: Record<string, string> = {
  skis: "ski", skies: "sky", dying: "die", lying: "lie", tying: "tie", idly: "idl", gently: "gentl",
  ugly: "ugli", early: "earli", only: "onli", singly: "singl",
  sky: "sky", news: "news", howe: "howe", atlas: "atlas", cosmos: "cosmos", bias: "bias", andes: "andes",
};
const EXCEPTIONS2 = new Set(["inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed"]);

const isVowel = (c: string | undefined) => c === "a" || c === "e" || c === "i" || c === "o" || c === "u" || c === "y";

/** Longest suffix of `w` found in `list`, or null. */
function longestSuffix(w: string, list: readonly string[]): string | null {
  let best: string | null = null;
  for (const s of list) if (w.endsWith(s) && (best === null || s.length > best.length)) best = s;
  return best;
}

class Word {
  constructor(public w: string, public p1: number, public p2: number) {}
  /** The suffix starts inside R1 / R2. */
  r1(suffix: string) { return this.w.length - suffix.length >= this.p1; }
  r2(suffix: string) { return this.w.length - suffix.length >= this.p2; }
  replace(suffix: string, by: string) { this.w = this.w.slice(0, this.w.length - suffix.length) + by; }
}

function markRegions(w: string): [number, number] {
  const afterVowelConsonant = (start: number) => {
    let i = start;
    while (i < w.length && !isVowel(w[i])) i++;
    while (i < w.length && isVowel(w[i])) i++;
    return i < w.length ? i + 1 : w.length;
  };
  const special = ["gener", "commun", "arsen"].find((p) => w.startsWith(p));
  const p1 = special ? special.length : afterVowelConsonant(0);
  return [p1, afterVowelConsonant(p1)];
}

/** Short syllable ending at position `end` (exclusive) of w. */
function shortSyllable(w: string, end: number): boolean {
  const a = w[end - 3], b = w[end - 2], c = w[end - 1];
  if (end >= 3 && !isVowel(a) && isVowel(b) && !isVowel(c) && c !== "w" && c !== "x" && c !== "Y") return true;
  return end === 2 && isVowel(b) && !isVowel(c);
}

function step1a(x: Word) {
  const apos = longestSuffix(x.w, ["'", "'s", "'s'"]);
  if (apos) x.replace(apos, "");
  const s = longestSuffix(x.w, ["sses", "ied", "ies", "s", "us", "ss"]);
  if (s === "sses") x.replace(s, "ss");
  else if (s === "ied" || s === "ies") x.replace(s, x.w.length - 3 >= 2 ? "i" : "ie");
  else if (s === "s") {
    const before = x.w.slice(0, -2); // the letter right before the s does not count
    if ([...before].some(isVowel)) x.replace(s, "");
  }
}

function step1b(x: Word) {
  const s = longestSuffix(x.w, ["eed", "eedly", "ed", "edly", "ing", "ingly"]);
  if (s === null) return;
  if (s === "eed" || s === "eedly") {
    if (x.r1(s)) x.replace(s, "ee");
    return;
  }
  if (![...x.w.slice(0, x.w.length - s.length)].some(isVowel)) return;
  x.replace(s, "");
  const t = longestSuffix(x.w, ["at", "bl", "iz", "bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt"]);
  if (t === "at" || t === "bl" || t === "iz") x.w += "e";
  else if (t !== null) x.w = x.w.slice(0, -1);
  else if (x.w.length === x.p1 && shortSyllable(x.w, x.w.length)) x.w += "e";
}

function step1c(x: Word) {
  const n = x.w.length;
  const last = x.w[n - 1];
  if ((last === "y" || last === "Y") && n > 2 && !isVowel(x.w[n - 2])) x.replace(last, "i");
}

const STEP2: [string, string][] = [
  ["tional", "tion"], ["enci", "ence"], ["anci", "ance"], ["abli", "able"], ["entli", "ent"], ["izer", "ize"],
  ["ization", "ize"], ["ational", "ate"], ["ation", "ate"], ["ator", "ate"], ["alism", "al"], ["aliti", "al"],
  ["alli", "al"], ["fulness", "ful"], ["ousli", "ous"], ["ousness", "ous"], ["iveness", "ive"], ["iviti", "ive"],
  ["biliti", "ble"], ["bli", "ble"], ["ogi", "og"], ["fulli", "ful"], ["lessli", "less"], ["li", ""],
];

function step2(x: Word) {
  const s = longestSuffix(x.w, STEP2.map(([k]) => k));
  if (s === null || !x.r1(s)) return;
  const before = x.w[x.w.length - s.length - 1];
  if (s === "ogi" && before !== "l") return;
  if (s === "li" && !"cdeghkmnrt".includes(before ?? "#")) return;
  x.replace(s, STEP2.find(([k]) => k === s)![1]);
}

const STEP3: [string, string][] = [
  ["tional", "tion"], ["ational", "ate"], ["alize", "al"], ["icate", "ic"], ["iciti", "ic"], ["ical", "ic"],
  ["ful", ""], ["ness", ""], ["ative", ""],
];

function step3(x: Word) {
  const s = longestSuffix(x.w, STEP3.map(([k]) => k));
  if (s === null || !x.r1(s)) return;
  if (s === "ative" && !x.r2(s)) return;
  x.replace(s, STEP3.find(([k]) => k === s)![1]);
}

const STEP4 = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ism", "ate", "iti", "ous", "ive", "ize", "ion"];

function step4(x: Word) {
  const s = longestSuffix(x.w, STEP4);
  if (s === null || !x.r2(s)) return;
  if (s === "ion") {
    const before = x.w[x.w.length - 4];
    if (before !== "s" && before !== "t") return;
  }
  x.replace(s, "");
}

function step5(x: Word) {
  const n = x.w.length;
  if (x.w[n - 1] === "e") {
    if (x.r2("e") || (x.r1("e") && !shortSyllable(x.w, n - 1))) x.replace("e", "");
  } else if (x.w[n - 1] === "l") {
    if (x.r2("l") && x.w[n - 2] === "l") x.replace("l", "");
  }
}

/** Snowball English stem of one lower-cased word. snowballStem("running") → "run", snowballStem("generously") → "generous" */
export const snowballStem = memoizeWords(stemUncached);

function stemUncached(word: string): string {
  if (Object.hasOwn(EXCEPTIONS1, word)) return EXCEPTIONS1[word];
  if (word.length < 3) return word;
  let w = word.startsWith("'") ? word.slice(1) : word;
  // Prelude: y at the start or after a vowel is a consonant, marked Y.
  let marked = "";
  for (let i = 0; i < w.length; i++) marked += w[i] === "y" && (i === 0 || isVowel(marked[i - 1])) ? "Y" : w[i];
  w = marked;
  const [p1, p2] = markRegions(w);
  const x = new Word(w, p1, p2);
  step1a(x);
  if (!EXCEPTIONS2.has(x.w)) {
    step1b(x);
    step1c(x);
    step2(x);
    step3(x);
    step4(x);
    step5(x);
  }
  return x.w.replace(/Y/g, "y");
}
