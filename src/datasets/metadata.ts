// What an imported row says about an image, read the way the Hugging Face `datasets` library reads
// it: imagefolder metadata (`metadata.jsonl`, `metadata.csv`) and parquet rows share the caption and
// split columns, so one set of rules turns either into captions and a split.
import { DEFAULT_SPLIT_ORDER } from "./imagefolder.js";
import { MAX_CAPTION_LENGTH, MAX_CAPTIONS, SPLITS, type Split } from "./store.js";

/** A row that cannot be used; the message says what is wrong with it (it is reported, not thrown past the import). */
export class RowError extends Error {
  override name = "RowError";
}

/** The folder names (and split values) `datasets` reads as each of our splits: "val" → "validation". */
const SPLIT_ALIASES: ReadonlyMap<string, Split> = new Map(
  DEFAULT_SPLIT_ORDER.flatMap((aliases) => aliases.map((alias) => [alias, canonical(aliases[0])] as const)),
);

function canonical(name: string): Split {
  return SPLITS.find((s) => s === name)!;
}

/** The split a name stands for ("val", "dev" → "validation"), or undefined. */
export function splitNamed(name: string): Split | undefined {
  return SPLIT_ALIASES.get(name.toLowerCase());
}

/**
 * The split a path says, as `datasets` infers it: a folder named after a split ("train/x.png",
 * "data/validation/metadata.jsonl") or, for data files (`fileName`), a file name that starts with
 * one ("data/test-00000-of-00001.parquet").
 */
export function splitFromPath(file: string, fileName = false): Split | undefined {
  const parts = file.split("/");
  for (const folder of parts.slice(0, -1)) {
    const split = splitNamed(folder);
    if (split) return split;
  }
  if (!fileName) return undefined;
  const stem = /^([A-Za-z]+)(?:[-_.]|$)/.exec(parts[parts.length - 1] ?? "")?.[1];
  return stem === undefined ? undefined : splitNamed(stem);
}

/**
 * Captions of a row: the `captions` list when there is one (an empty CSV cell is none), else `text`, `caption` and numbered
 * `caption_0`, `caption_1`… columns, in that order. Blank values are dropped; none means an
 * uncaptioned image.
 * captionsOf({ text: "a dog", captions: ["a dog", "a brown dog"] }) → ["a dog", "a brown dog"]
 */
export function captionsOf(row: Record<string, unknown>): string[] {
  let values: unknown[];
  if (row.captions !== undefined && row.captions !== null && row.captions !== "") {
    const list = typeof row.captions === "string" ? parseJsonList(row.captions) : row.captions;
    if (!Array.isArray(list)) throw new RowError('"captions" must be a list of strings');
    values = list;
  } else {
    const numbered = Object.keys(row)
      .filter((k) => /^caption_\d+$/.test(k))
      .sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
    values = ["text", "caption", ...numbered].map((k) => row[k]).filter((v) => v !== undefined && v !== null);
  }
  const captions: string[] = [];
  for (const value of values) {
    if (typeof value !== "string") throw new RowError(`a caption is ${JSON.stringify(value)?.slice(0, 40)}, not a string`);
    const caption = value.trim();
    if (caption === "") continue;
    if (caption.length > MAX_CAPTION_LENGTH) throw new RowError(`a caption has ${caption.length} characters; the limit is ${MAX_CAPTION_LENGTH}`);
    captions.push(caption);
  }
  if (captions.length > MAX_CAPTIONS) throw new RowError(`${captions.length} captions; the limit is ${MAX_CAPTIONS} per image`);
  return captions;
}

/** A CSV cell holding a JSON list ('["a", "b"]'), as `datasets` writes list columns to CSV; a plain string is one caption. */
function parseJsonList(text: string): unknown {
  if (!text.trimStart().startsWith("[")) return [text];
  try {
    return JSON.parse(text);
  } catch {
    throw new RowError('"captions" looks like a JSON list but does not parse; write it as ["first caption", "second caption"]');
  }
}

/** The row's own split (a `split` column), when it has one. */
export function splitOfRow(row: Record<string, unknown>): Split | undefined {
  const value = row.split;
  if (value === undefined || value === null || value === "") return undefined;
  const split = typeof value === "string" ? splitNamed(value) : undefined;
  if (!split) throw new RowError(`split ${JSON.stringify(value)} is not one of ${SPLITS.join(", ")} (or an alias such as val, dev)`);
  return split;
}

/** One metadata row with where it came from ("train/metadata.jsonl line 3"). */
export interface MetadataRow {
  at: string;
  row?: Record<string, unknown>;
  /** Why the line could not be read (then `row` is absent). */
  error?: string;
}

/** The rows of metadata.jsonl text: one JSON object per line; blank lines are skipped. */
export function jsonlRows(text: string, source: string): MetadataRow[] {
  const rows: MetadataRow[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const at = `${source} line ${i + 1}`;
    try {
      const row: unknown = JSON.parse(line);
      if (typeof row !== "object" || row === null || Array.isArray(row)) rows.push({ at, error: 'not a JSON object like {"file_name": "0001.png", "text": "a caption"}' });
      else rows.push({ at, row: row as Record<string, unknown> });
    } catch (error) {
      rows.push({ at, error: `not valid JSON (${(error as Error).message})` });
    }
  });
  return rows;
}

/** The rows of metadata.csv text (RFC 4180: quoted fields may hold commas, quotes "" and newlines); the first record names the columns. */
export function csvRows(text: string, source: string): MetadataRow[] {
  const records = parseCsv(text.replace(/^\uFEFF/, ""));
  const header = records.shift()?.fields;
  if (!header) return [];
  return records
    .filter((r) => !(r.fields.length === 1 && r.fields[0] === ""))
    .map((r) => {
      const at = `${source} line ${r.line}`;
      if (r.fields.length !== header.length) return { at, error: `${r.fields.length} fields where the header has ${header.length}` };
      return { at, row: Object.fromEntries(header.map((name, i) => [name.trim(), r.fields[i]])) };
    });
}

function parseCsv(text: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else {
        if (c === "\n") line++;
        field += c;
      }
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") fields.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      fields.push(field);
      records.push({ line: start, fields });
      (fields = []), (field = ""), (start = ++line);
    } else field += c;
  }
  if (field !== "" || fields.length > 0) records.push({ line: start, fields: [...fields, field] });
  return records;
}
