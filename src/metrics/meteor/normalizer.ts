// Meteor 1.5's `-norm` tokenizer for English (edu.cmu.meteor.util.Normalizer, after the Moses
// tokenizer): separate symbols, protect multi-dots, split commas outside numbers, normalise
// quotes and dashes, split hyphenated words, split English clitics to the right, break
// sentence-final periods unless the word is a non-breaking prefix or the next word is lower case.
// Java character classes are spelled out: Java's \s is ASCII only and \p{Digit}/\p{Lower} are ASCII.

const ALPHA = "A-Za-z\u0160\u017d\u0161\u017e\u0178\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017e\u0400-\u04ff\u0500-\u0527\ua640-\ua66e\ua67e-\ua697\u1d00-\u1d7f";
const ALNUM = "0-9" + ALPHA;
const JAVA_SPACE = " \\t\\n\\x0B\\f\\r";

const SEP_OTHER = new RegExp(`([^${ALNUM}${JAVA_SPACE}.'\`,\\-\u2018\u2019])`, "gu");
const MULTI_DOT = /\.([.]+)/g;
const MULTI_DOT2 = /DOTMULTI\.([^.])/gu;
const COMMA1 = /([^0-9])[,]([^0-9])/gu;
const COMMA2 = /([0-9])[,]([^0-9])/gu;
const COMMA3 = /([^0-9])[,]([0-9])/gu;
const QUOTE1 = /([`\u2018\u2019])/g;
const QUOTE2 = /([\u201c\u201d]|'')/g;
const RM_DASH = new RegExp(`([${ALNUM}.])[\\-]([${ALNUM}])`, "gu");
const CONT1 = new RegExp(`([^${ALPHA}])[']([^${ALPHA}])`, "gu");
const CONT2 = new RegExp(`([^${ALPHA}0-9])[']([${ALPHA}])`, "gu");
const CONT3 = new RegExp(`([${ALPHA}])[']([^${ALPHA}])`, "gu");
const CONT4 = new RegExp(`([${ALPHA}])[']([${ALPHA}])`, "gu");
const CONT5 = /([0-9])[']([s])/gu;
const HAS_ALPHA = new RegExp(`[${ALPHA}]`, "u");
// Unicode spaces Meteor folds to one space (the golden data confirms U+00A0; the others follow Meteor's source).
const WHITE = /[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+/gu;
const TOKEN_DELIMS = /[ \t\n\r\f]+/;

const NBP_ANY = 1;
const NBP_NUMERIC_ONLY = 2;

// Moses' English non-breaking prefixes, which Meteor ships; with lower-cased input only v, vs, rev, pp matter.
const NONBREAKING = new Map<string, number>([
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("").map((c) => [c, NBP_ANY] as [string, number]),
  ...["Adj", "Adm", "Adv", "Asst", "Bart", "Bldg", "Brig", "Bros", "Capt", "Cmdr", "Col", "Comdr", "Con", "Corp", "Cpl",
    "DR", "Dr", "Drs", "Ens", "Gen", "Gov", "Hon", "Hr", "Hosp", "Insp", "Lt", "MM", "MR", "MRS", "MS", "Maj", "Messrs",
    "Mlle", "Mme", "Mr", "Mrs", "Ms", "Msgr", "Op", "Ord", "Pfc", "Ph", "Prof", "Pvt", "Rep", "Reps", "Res", "Rev", "Rt",
    "Sen", "Sens", "Sfc", "Sgt", "Sr", "St", "Supt", "Surg", "v", "vs", "i.e", "rev", "e.g", "Nos", "Nr"]
    .map((p) => [p, NBP_ANY] as [string, number]),
  ["No", NBP_NUMERIC_ONLY], ["Art", NBP_NUMERIC_ONLY], ["pp", NBP_NUMERIC_ONLY],
]);

/** Java String.replace(CharSequence, CharSequence): every non-overlapping occurrence, left to right. */
const replaceAll = (s: string, from: string, to: string) => s.split(from).join(to);

/** Java String.trim(): strips every char <= U+0020 from both ends. */
function javaTrim(s: string): string {
  let a = 0, b = s.length;
  while (a < b && s.charCodeAt(a) <= 32) a++;
  while (b > a && s.charCodeAt(b - 1) <= 32) b--;
  return s.slice(a, b);
}

/** Meteor's Normalizer.normalizeLine(line, English, keepPunctuation=true). */
export function meteorNormalize(line: string): string {
  let s = ` ${line} `;
  s = s.replace(SEP_OTHER, " $1 ");
  s = s.replace(MULTI_DOT, " DOTMULTI$1");
  while (s.includes("DOTMULTI.")) {
    s = s.replace(MULTI_DOT2, "DOTDOTMULTI $1");
    s = replaceAll(s, "DOTMULTI.", "DOTDOTMULTI");
  }
  s = s.replace(COMMA1, "$1 , $2").replace(COMMA2, "$1 , $2").replace(COMMA3, "$1 , $2");
  s = s.replace(QUOTE1, "'").replace(QUOTE2, ' " ');
  s = replaceAll(replaceAll(s, "\u2013", "-"), "--", "-");
  s = s.replace(RM_DASH, "$1 $2");
  s = s.replace(CONT1, "$1 ' $2").replace(CONT2, "$1 ' $2").replace(CONT3, "$1 ' $2");
  s = s.replace(CONT4, "$1 '$2").replace(CONT5, "$1 '$2");

  const words = s.split(TOKEN_DELIMS).filter((w) => w.length > 0);
  let rebuilt = "";
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w.length > 1 && w.endsWith(".")) {
      const pre = w.slice(0, -1);
      const type = NONBREAKING.get(pre);
      const next = words[i + 1];
      if (pre.includes(".") && HAS_ALPHA.test(pre)) rebuilt += replaceAll(w, ".", "");
      else if (type === NBP_ANY || (next !== undefined && /^[a-z]/.test(next))) rebuilt += w;
      else if (type === NBP_NUMERIC_ONLY && next !== undefined && /^[0-9]+/.test(next)) rebuilt += w;
      else rebuilt += `${pre} .`;
    } else rebuilt += w;
    rebuilt += " ";
  }
  s = rebuilt;
  while (s.includes("DOTDOTMULTI")) s = replaceAll(s, "DOTDOTMULTI", "DOTMULTI.");
  s = replaceAll(s, "DOTMULTI", ".");
  return javaTrim(s.replace(WHITE, " "));
}

/** Meteor's tokens for one segment: normalise, lower-case, split like java.util.StringTokenizer. */
export function meteorTokens(line: string): string[] {
  return meteorNormalize(line).toLowerCase().split(TOKEN_DELIMS).filter((w) => w.length > 0);
}
