// The `captioner-metrics-cases/1` file format (see ../shared/golden/metrics/cases.json):
// {"format": "captioner-metrics-cases/1", "corpora": [{"name", "items": [{"id", "prediction", "references": [...]}]}]}.
import { readFileSync } from "node:fs";
import { scoreCorpus, type CorpusScores, type ScoreItem, type ScoreOptions } from "./corpus.js";
import { MetricsInputError } from "./text.js";

export const CASES_FORMAT = "captioner-metrics-cases/1";

/** A parsed cases file. */
export interface CasesFile {
  corpora: { name: string; items: ScoreItem[] }[];
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** Check a parsed JSON value against the cases format; errors name the offending path. */
export function validateCases(data: unknown, source = "cases"): CasesFile {
  const fail = (path: string, what: string): never => {
    throw new MetricsInputError(`${source}: ${path} ${what}`);
  };
  if (!isObject(data)) return fail("top level", `must be an object like {"format": "${CASES_FORMAT}", "corpora": [...]}`);
  if (data.format !== CASES_FORMAT) fail("format", `must be "${CASES_FORMAT}" (got ${JSON.stringify(data.format)})`);
  if (!Array.isArray(data.corpora) || data.corpora.length === 0) fail("corpora", "must be a non-empty array of {name, items}");
  const names = new Set<string>();
  const corpora = (data.corpora as unknown[]).map((c, ci) => {
    const at = `corpora[${ci}]`;
    if (!isObject(c)) return fail(at, "must be an object with name and items");
    if (typeof c.name !== "string" || c.name.length === 0) fail(`${at}.name`, "must be a non-empty string");
    const name = c.name as string;
    if (names.has(name)) fail(`${at}.name`, `"${name}" is used twice; corpus names must be unique`);
    names.add(name);
    if (!Array.isArray(c.items) || c.items.length === 0) fail(`${at}.items`, "must be a non-empty array of {id, prediction, references}");
    const items = (c.items as unknown[]).map((it, ii) => {
      const p = `${at}.items[${ii}]`;
      if (!isObject(it)) return fail(p, "must be an object with id, prediction and references");
      if (typeof it.id !== "string" && typeof it.id !== "number") fail(`${p}.id`, "must be a string");
      if (typeof it.prediction !== "string") fail(`${p}.prediction`, "must be a string (use \"\" for an empty caption)");
      const refs = it.references;
      if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => typeof r === "string")) {
        fail(`${p}.references`, "must be a non-empty array of strings");
      }
      return { id: String(it.id), prediction: it.prediction as string, references: refs as string[] };
    });
    return { name, items };
  });
  return { corpora };
}

/** Read and validate a cases file. */
export function readCases(path: string): CasesFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new MetricsInputError(`cannot read cases file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new MetricsInputError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  return validateCases(data, path);
}

/** Score every corpus of a cases file; the result is the `captioner metrics --json` document. */
export function scoreCases(cases: CasesFile, opts: ScoreOptions = {}): { corpora: Record<string, CorpusScores> } {
  const corpora: Record<string, CorpusScores> = {};
  for (const c of cases.corpora) corpora[c.name] = scoreCorpus(c.items, opts);
  return { corpora };
}
