// Text helpers that reproduce Python's notion of whitespace, which differs from JavaScript's
// `\s` (Python also counts U+001C..U+001F and U+0085; JS adds U+FEFF).

/** Characters for which Python's `str.isspace()` is true. */
export const PY_WHITESPACE = "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const PY_SPLIT = new RegExp(`[${PY_WHITESPACE}]+`);
const PY_STRIP = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, "g");

/** Python `s.split()` with no argument, e.g. pySplit(" a\u00a0b ") → ["a", "b"]. */
export function pySplit(s: string): string[] {
  const parts = s.split(PY_SPLIT);
  return parts.filter((p) => p.length > 0);
}

/** Python `s.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, "");
}

/** Python `' '.join(s.lower().split())`: the "plain" normalisation of the golden data. */
export function plainNormalize(s: string): string {
  return pySplit(s.toLowerCase()).join(" ");
}

/** n-grams of orders 1..n keyed by their words joined with U+0001, in Python's insertion order. */
export function ngramCounts(words: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let k = 1; k <= n; k++) {
    for (let i = 0; i + k <= words.length; i++) {
      const key = words.slice(i, i + k).join("\u0001");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** Order (1-based) of an n-gram key made by ngramCounts. */
export function ngramOrder(key: string): number {
  let n = 1;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 1) n++;
  return n;
}

/** Error for inputs the metrics cannot score; the message says what to fix. */
export class MetricsInputError extends Error {
  override name = "MetricsInputError";
}

/**
 * Memoises a pure string function, bounded so the table stays small (stemmers see few distinct words).
 * `const stem = memoizeWords(slowStem); stem("running")`
 */
export function memoizeWords(fn: (word: string) => string, limit = 100_000): (word: string) => string {
  const cache = new Map<string, string>();
  return (word) => {
    let out = cache.get(word);
    if (out === undefined) {
      out = fn(word);
      if (cache.size > limit) cache.clear();
      cache.set(word, out);
    }
    return out;
  };
}
