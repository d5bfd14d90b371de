/**
 * Tags from captions: the nouns (singular), adjective–noun pairs ("red hydrant", "small circle"), and the
 * image's colour families. Part-of-speech tagging and singular forms come from compromise; this file
 * only decides which tagged words make useful tags.
 *
 * With several captions (beam search's n-best), a tag's score says how many of them agree, the
 * better-ranked ones counting more; a tag in the only caption scores 1.
 */
import { createRequire } from "node:module";
import type Compromise from "compromise/two";
import type { ImageColors } from "./colors.js";
import { type OptionTable, type OptionsOf, resolveOptions } from "./options.js";

export type TagSource = "noun" | "adjective-noun" | "color";

export interface Tag {
  tag: string;
  /**
   * 0–1. Caption tags: the rank-weighted fraction of captions containing it (caption i weighs 1/(i+1)).
   * Colour tags: the family's share of the image.
   */
  score: number;
  source: TagSource;
}

export const TAG_OPTIONS = {
  maxTags: { default: 20, min: 1, max: 200, integer: true, doc: "Most tags returned, highest score first." },
  minColorShare: {
    default: 0.05,
    min: 0,
    max: 1,
    integer: false,
    doc: "A colour family becomes a tag when at least this fraction of the image has it (specks are not worth a tag).",
  },
} as const satisfies OptionTable;

export type TagOptions = OptionsOf<typeof TAG_OPTIONS>;

/**
 * Nouns that describe the picture rather than what is in it, spatial words captions use as nouns
 * ("on top of", "in front of", "close up"), quantity words, and BLIP's known junk tokens ("arafed").
 */
const STOP_NOUNS = new Set([
  "image", "picture", "photo", "photograph", "pic", "view", "shot", "closeup", "close", "up", "background", "foreground",
  "top", "bottom", "front", "back", "side", "left", "right", "middle", "center", "centre", "edge", "corner",
  "thing", "things", "something", "lot", "lots", "couple", "group", "bunch", "pair", "number", "kind", "type", "sort",
  "way", "there", "one", "ones", "other", "others", "each", "some", "day", "time",
  "arafed", "araffe", "arafe", "araffed", "arafly", "arrafed",
]);

/** Adjectives that say nothing about the things pictured. */
const STOP_ADJECTIVES = new Set(["other", "next", "close", "many", "several", "various", "different", "same", "single", "few", "more", "most", "much", "own", "such", "very"]);

/** Plural-only nouns whose singular is a different thing ("glass", "jean"). */
const KEEP_PLURAL = new Set(["glasses", "sunglasses", "scissors", "jeans", "pants", "shorts", "trousers", "binoculars", "tongs", "pliers", "goggles", "headphones", "earphones", "clothes", "stairs", "news"]);

/** Longest noun compound kept whole ("fire hydrant", "tennis racket", "hot dog stand"). */
const MAX_COMPOUND = 3;

/** A term as compromise keeps it (its `docs`; reading them directly skips `.json()`, a third of the parse cost). */
interface Term {
  normal: string;
  tags?: Set<string>;
}

type SingularFn = (word: string, model: object) => string;
type World = { model: object; methods: { two: { transform: { noun: { toSingular: SingularFn } } } } };
let loaded: { parse: typeof Compromise; world: World } | null = null;

/**
 * compromise, loaded on first use (its CommonJS build, synchronously): ≈ 0.5 s that every command and
 * server start paid at import, tagging or not. The server warms it up once its models are loaded.
 */
function compromise(): { parse: typeof Compromise; world: World } {
  if (!loaded) {
    const parse = createRequire(import.meta.url)("compromise/two") as typeof Compromise;
    loaded = { parse, world: parse.world() as World };
  }
  return loaded;
}

function singular(word: string): string {
  if (KEEP_PLURAL.has(word)) return word;
  const { world } = compromise();
  return world.methods.two.transform.noun.toSingular(word, world.model) || word;
}

const has = (t: Term, tag: string) => t.tags?.has(tag) ?? false;
const isNoun = (t: Term) => has(t, "Noun") && !has(t, "Pronoun") && !has(t, "Value");

interface CaptionTag {
  tag: string;
  source: TagSource;
}

/**
 * The tags of one caption, in order of appearance. A run of nouns is a compound whose last word is the
 * head; the compound and the head are tags, the modifiers alone are not (a "fire hydrant" is no fire).
 */
function captionTags(caption: string): CaptionTag[] {
  const terms = (compromise().parse(caption).docs as Term[][]).flat().filter((t) => t.normal);
  const out: CaptionTag[] = [];
  // compromise reads "a man riding a wave" as a noun phrase; an -ing word straight after a noun is a verb.
  const nounAt = terms.map((t, i) => isNoun(t) && !(t.normal.endsWith("ing") && i > 0 && isNoun(terms[i - 1])));
  for (let i = 0; i < terms.length; ) {
    if (!nounAt[i]) {
      i++;
      continue;
    }
    let end = i;
    while (end + 1 < terms.length && nounAt[end + 1] && !has(terms[end], "Plural")) end++;
    const words = terms.slice(Math.max(i, end - MAX_COMPOUND + 1), end + 1).map((t) => t.normal);
    const head = has(terms[end], "Plural") ? singular(words[words.length - 1]) : words[words.length - 1];
    const compound = [...words.slice(0, -1), head].filter((w) => !STOP_NOUNS.has(w));
    const start = i;
    i = end + 1;
    if (STOP_NOUNS.has(head) || compound.length === 0) continue;
    const phrase = compound.join(" ");
    if (compound.length > 1) out.push({ tag: phrase, source: "noun" });
    out.push({ tag: head, source: "noun" });
    for (let a = start - 1; a >= 0 && has(terms[a], "Adjective"); a--) {
      if (!STOP_ADJECTIVES.has(terms[a].normal)) out.push({ tag: `${terms[a].normal} ${phrase}`, source: "adjective-noun" });
    }
  }
  return out;
}

/**
 * Tags for an image from its caption(s), best caption first, plus colour-family tags when its colours are given.
 * @example tagsOf(["a red fire hydrant on a city street"]) // fire hydrant, hydrant, red fire hydrant, city street, street (score 1, source noun / adjective-noun)
 */
export function tagsOf(captions: readonly string[], colors?: Pick<ImageColors, "palette"> | null, options?: TagOptions): Tag[] {
  const { maxTags, minColorShare } = resolveOptions("tags", TAG_OPTIONS, options);
  const weights = captions.map((_, i) => 1 / (i + 1));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  // Insertion order is first appearance, which breaks score ties (the sort below is stable).
  const found = new Map<string, Tag>();
  captions.forEach((caption, i) => {
    const seen = new Set<string>();
    for (const { tag, source } of captionTags(caption)) {
      if (seen.has(tag)) continue;
      seen.add(tag);
      const entry = found.get(tag) ?? { tag, score: 0, source };
      entry.score += weights[i] / totalWeight;
      found.set(tag, entry);
    }
  });

  const familyShares = new Map<string, number>();
  for (const swatch of colors?.palette ?? []) familyShares.set(swatch.family, (familyShares.get(swatch.family) ?? 0) + swatch.share);
  for (const [family, share] of familyShares) {
    if (share < minColorShare) continue;
    const existing = found.get(family);
    if (!existing || existing.score < share) found.set(family, { tag: family, score: share, source: "color" });
  }

  return [...found.values()]
    .map((t) => ({ ...t, score: Math.round(t.score * 10_000) / 10_000 }))
    .sort((a, b) => b.score - a.score)
    .slice(0, maxTags);
}
