// PTB tokenization as pycocoevalcap runs it: Stanford PTBTokenizer 3.4.1 with
// `-preserveLines -lowerCase`, then the wrapper's punctuation filter. This is a re-implementation
// of the lexer rules that matter for captions (clitics, possessives, numbers, currency,
// brackets, quotes, dashes, ellipses, untokenizable characters), not a port of the JFlex grammar.

// Tokens the pycocoevalcap wrapper drops (upper-case bracket names never match lower-cased output).
const DROPPED = new Set(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]);

const BRACKETS: Record<string, string> = { "(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-" };

// Abbreviations whose final period PTBTokenizer keeps (a subset of its ABBREV lists).
const ABBREVIATIONS = new Set([
  "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "sen", "rep", "gov", "gen", "col", "lt", "sgt", "capt", "rev",
  "inc", "co", "corp", "ltd", "bros", "vs", "etc", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
  "oct", "nov", "dec", "mt", "ft", "vol", "fig",
]);

// Word-internal characters: letters, combining marks, digits.
const WORD_CHAR = /[\p{L}\p{M}\p{N}]/u;
const SPACE = /[\s\u00a0\u2000-\u200a\u202f\u205f\u3000]/u;

// Words the lexer splits in two (SPLIT_* rules of PTBLexer).
const SPLIT_WORDS: [RegExp, number][] = [
  [/^(can)(not)$/i, 3], [/^(gon)(na)$/i, 3], [/^(got)(ta)$/i, 3], [/^(wan)(na)$/i, 3],
  [/^(gim)(me)$/i, 3], [/^(lem)(me)$/i, 3], [/^(gon)(ta)$/i, 3],
];

const FRACTION = /^(\d{1,4})[ \u00a0](\d{1,4}\/\d{1,4})(?![\p{L}\p{N}])/u;
const CLITIC = /^(.*[\p{L}\p{N}])('s|'re|'m|'ll|'ve|'d)$/iu;
const NEG_CLITIC = /^(.*[\p{L}])(n't)$/iu;

function splitWord(word: string): string[] {
  for (const [re] of SPLIT_WORDS) {
    const m = re.exec(word);
    if (m) return [m[1], m[2]];
  }
  const neg = NEG_CLITIC.exec(word);
  if (neg) return [neg[1], neg[2]];
  const cl = CLITIC.exec(word);
  if (cl) return [cl[1], cl[2]];
  return [word];
}

/** Scan one caption into PTB tokens (original case, before the wrapper's filter). */
export function ptbTokens(text: string): string[] {
  // Characters outside the BMP (emoji), format characters (ZWJ) and stray marks are "untokenizable"
  // for the 3.4.1 lexer and are deleted; marks stay when they follow a letter.
  const chars = Array.from(text);
  const out: string[] = [];
  let i = 0;
  const at = (k: number) => chars[k] ?? "";
  const isWordChar = (c: string) => c.length === 1 && WORD_CHAR.test(c);
  while (i < chars.length) {
    const c = chars[i];
    if (c.length > 1 || /\p{Cf}/u.test(c) || SPACE.test(c) || (/\p{M}/u.test(c) && !isWordChar(at(i - 1)))) {
      i++;
      continue;
    }
    // Numbers with , . : inside, and fractions "3 1/2" joined with a no-break space.
    const frac = c >= "0" && c <= "9" ? FRACTION.exec(chars.slice(i, i + 16).join("")) : null;
    if (frac && (i === 0 || !isWordChar(at(i - 1)))) {
      out.push(`${frac[1]}\u00a0${frac[2]}`);
      i += Array.from(frac[0]).length;
      continue;
    }
    if (isWordChar(c)) {
      // A word: letters/digits joined by internal hyphens, periods, apostrophes, commas/colons between digits, slashes.
      let j = i + 1;
      while (j < chars.length) {
        const d = chars[j];
        if (isWordChar(d)) { j++; continue; }
        const next = at(j + 1);
        if ((d === "-" || d === "/" || d === ".") && isWordChar(next)) { j += 2; continue; }
        if ((d === "," || d === ":") && /\d/.test(at(j - 1)) && /\d/.test(next)) { j += 2; continue; }
        if ((d === "'" || d === "\u2019") && isWordChar(next)) { j += 2; continue; }
        break;
      }
      let word = chars.slice(i, j).join("").replace(/\u2019/g, "'");
      // A trailing period stays on known abbreviations and dotted initials (u.s.).
      if (at(j) === "." && at(j + 1) !== ".") {
        const lower = word.toLowerCase();
        if (ABBREVIATIONS.has(lower) || /^(\p{L}\.)+\p{L}$/u.test(word)) {
          word += ".";
          j++;
        }
      }
      out.push(...splitWord(word));
      i = j;
      continue;
    }
    if (c === "." || c === "\u2026") {
      let j = i;
      while (at(j) === "." || at(j) === "\u2026") j++;
      out.push(j - i === 1 && c === "." ? "." : "...");
      i = j;
      continue;
    }
    if (c === "!" || c === "?") {
      let j = i;
      while (at(j) === "!" || at(j) === "?") j++;
      out.push(chars.slice(i, j).join(""));
      i = j;
      continue;
    }
    if (c === "-" || c === "\u2013" || c === "\u2014") {
      let j = i;
      while (at(j) === "-") j++;
      out.push(c === "-" && j - i === 1 ? "-" : "--");
      i = c === "-" ? j : i + 1;
      continue;
    }
    if (c === '"' || c === "\u201c" || c === "\u201d") {
      out.push(c === "\u201d" ? "''" : "``");
      i++;
      continue;
    }
    if (c === "'" || c === "\u2018" || c === "\u2019" || c === "`") {
      const prev = at(i - 1);
      // A possessive or closing quote after a word; an opening quote otherwise.
      out.push(prev && !SPACE.test(prev) ? "'" : "`");
      i++;
      continue;
    }
    if (BRACKETS[c]) {
      out.push(BRACKETS[c]);
      i++;
      continue;
    }
    // Currency is normalised the way PTBLexer does (pound → #, euro → $, cent → cents).
    if (c === "\u00a3") out.push("#");
    else if (c === "\u20ac" || c === "\u0080") out.push("$");
    else if (c === "\u00a2") out.push("cents");
    else out.push(c);
    i++;
  }
  return out;
}

/** Lower-case the way Java's toLowerCase(Locale.ENGLISH) does (the same Unicode mapping as JS). */
function javaLower(s: string): string {
  return s.toLowerCase();
}

/**
 * One caption as pycocoevalcap's PTBTokenizer returns it: tokens lower-cased, the wrapper's
 * punctuation removed, joined with single spaces.
 * ptbTokenize("A man (wearing a hat)!") → "a man -lrb- wearing a hat -rrb-"
 */
export function ptbTokenize(caption: string): string {
  return ptbTokens(caption.replace(/\n/g, " "))
    .map(javaLower)
    .filter((t) => !DROPPED.has(t))
    .join(" ");
}
