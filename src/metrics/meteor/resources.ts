// Data the Meteor synonym module needs, derived from WordNet 3.0 exactly as Meteor 1.5's
// resources/synonym/english.{synsets,exceptions} (see data/meteor/LICENSE.md), plus the
// morphology fallback of Meteor's SynonymDictionary (taken from WordNet's morph.c).
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

const DATA_DIR = new URL("../../../../data/meteor/", import.meta.url);

/** Java's String.hashCode (Meteor compares words and stems by these ints). */
export function javaHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

function readPairs(name: string): Map<string, string[]> {
  const text = gunzipSync(readFileSync(new URL(name, DATA_DIR))).toString("latin1");
  const lines = text.split("\n");
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < lines.length; i += 2) map.set(lines[i], lines[i + 1].split(" ").filter((t) => t.length > 0));
  return map;
}

const SUFFIXES = ["s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies", "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"];
const ENDINGS = ["", "s", "x", "z", "ch", "sh", "man", "y", "", "y", "e", "", "e", "", "e", "", "", "", "e", "e"];

/** Meteor's SynonymDictionary: word → WordNet synset offsets, with exception-list and suffix-rule lemmatisation. */
export class SynonymDictionary {
  private readonly synsets: Map<string, number[]>;
  private readonly bases = new Map<string, string[]>();

  constructor() {
    this.synsets = new Map([...readPairs("english.synsets.gz")].map(([w, ids]) => [w, ids.map(Number)]));
    // english.exceptions holds "base\nform form ..." records; index them by form.
    for (const [base, forms] of readPairs("english.exceptions.gz")) {
      for (const f of forms) {
        const list = this.bases.get(f);
        if (list) list.push(base);
        else this.bases.set(f, [base]);
      }
    }
  }

  /** Synsets of the word itself. */
  synSets(word: string): number[] {
    return this.synsets.get(word) ?? [];
  }

  /** Synsets of the word's lemma: exception list first, else WordNet's suffix rules. */
  stemSynSets(word: string): number[] {
    const bases = this.bases.get(word);
    if (bases) return bases.flatMap((b) => this.synSets(b));
    return this.synSets(this.morph(word));
  }

  // Meteor's morph(): a "-ful" word never matches a suffix rule (its tmp/end bookkeeping is dead code).
  private morph(word: string): string {
    if (word.endsWith("ss") || word.length <= 2) return word;
    for (let i = 0; i < SUFFIXES.length; i++) {
      if (!word.endsWith(SUFFIXES[i])) continue;
      const candidate = word.slice(0, word.length - SUFFIXES[i].length) + ENDINGS[i];
      if (this.synsets.has(candidate)) return candidate;
    }
    return "";
  }
}

let dictionary: SynonymDictionary | undefined;

/** The shared synonym dictionary, loaded on first use (about 0.5 s). */
export function synonymDictionary(): SynonymDictionary {
  dictionary ??= new SynonymDictionary();
  return dictionary;
}

let functionWords: Set<string> | undefined;

/** Meteor's English function-word list (resources/function/english.words). */
export function meteorFunctionWords(): Set<string> {
  functionWords ??= new Set(readFileSync(new URL("english.words", DATA_DIR), "utf8").split("\n").filter((w) => w.length > 0));
  return functionWords;
}
