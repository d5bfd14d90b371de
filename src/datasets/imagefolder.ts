// The Hugging Face `imagefolder` layout: a folder of images plus `metadata.jsonl` (one JSON object
// per line: `file_name`, `text`, optional `captions` list), and a dataset root holding one such
// folder per split (`train/`, `validation/`, `test/`).
import * as fs from "node:fs";
import * as path from "node:path";

/** A dataset folder, metadata line or image that cannot be used; the message says what to fix. */
export class DatasetError extends Error {
  override name = "DatasetError";
}

/** One image of a split with its captions. */
export interface DatasetItem {
  /** `file_name` as written in metadata.jsonl (relative to the split folder). */
  id: string;
  /** Absolute path of the image file. */
  file: string;
  /** The `text` column. */
  text: string;
  /** Reference captions: the `captions` list when present, else `[text]`. */
  references: string[];
}

/** A split read from disk. */
export interface DatasetSplit {
  /** The split's name (its folder name). */
  name: string;
  folder: string;
  items: DatasetItem[];
}

export const METADATA_FILE = "metadata.jsonl";

/**
 * The order in which a split is picked when none is asked for: evaluation data first. Each entry
 * lists the folder names the Hugging Face `datasets` library reads as that split.
 */
export const DEFAULT_SPLIT_ORDER = [
  ["validation", "valid", "val", "dev"],
  ["test", "testing", "eval", "evaluation"],
  ["train", "training"],
] as const;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** True when `folder` is a split (holds metadata.jsonl) rather than a dataset root. */
export function isSplitFolder(folder: string): boolean {
  return fs.existsSync(path.join(folder, METADATA_FILE));
}

/** The split names of a dataset root: its sub-folders that hold metadata.jsonl, sorted. */
export function listSplits(root: string): string[] {
  if (!isDirectory(root)) throw new DatasetError(`dataset folder ${root} does not exist or is not a folder`);
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && isSplitFolder(path.join(root, e.name)))
    .map((e) => e.name)
    .sort();
}

/**
 * Reads one split folder: validates every metadata line and checks that every image exists.
 * readSplit("shapes/validation").items[0] → { id: "000000.png", file: ".../000000.png", text, references }
 */
export function readSplit(folder: string, name = path.basename(path.resolve(folder))): DatasetSplit {
  const dir = path.resolve(folder);
  if (!isDirectory(dir)) throw new DatasetError(`dataset folder ${folder} does not exist or is not a folder`);
  const metadata = path.join(dir, METADATA_FILE);
  if (!fs.existsSync(metadata)) {
    const hint = fs.existsSync(path.join(dir, "metadata.csv")) ? " (metadata.csv is not supported; convert it to JSON lines)" : "";
    throw new DatasetError(`${folder} has no ${METADATA_FILE}${hint}; an imagefolder split needs one JSON object per image: {"file_name": "...", "text": "..."}`);
  }
  const items = parseMetadata(fs.readFileSync(metadata, "utf8"), dir, metadata);
  if (items.length === 0) throw new DatasetError(`${metadata} lists no images; add one line per image`);
  return { name, folder: dir, items };
}

/** Parses metadata.jsonl text; errors name the file and the 1-based line number. */
export function parseMetadata(text: string, folder: string, source = METADATA_FILE): DatasetItem[] {
  const seen = new Map<string, number>();
  const items: DatasetItem[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const at = `${source} line ${index + 1}`;
    if (line.trim() === "") return; // blank lines (e.g. a trailing newline) carry no item
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (error) {
      throw new DatasetError(`${at} is not valid JSON (${(error as Error).message}); each line must be one JSON object`);
    }
    if (!isObject(row)) throw new DatasetError(`${at} must be a JSON object like {"file_name": "0001.png", "text": "a caption"}`);
    const item = parseRow(row, folder, at);
    const previous = seen.get(item.id);
    if (previous !== undefined) throw new DatasetError(`${at}: file_name "${item.id}" is already listed on line ${previous}; list each image once`);
    seen.set(item.id, index + 1);
    items.push(item);
  });
  return items;
}

function parseRow(row: Record<string, unknown>, folder: string, at: string): DatasetItem {
  const { file_name: fileName, text, captions } = row;
  if (typeof fileName !== "string" || fileName.length === 0) throw new DatasetError(`${at}: "file_name" must be a non-empty string (the image's path inside the split folder)`);
  const file = path.resolve(folder, fileName);
  const relative = path.relative(folder, file);
  if (path.isAbsolute(fileName) || relative.startsWith("..") || path.isAbsolute(relative)) {
    throw new DatasetError(`${at}: file_name "${fileName}" must be a relative path inside the split folder`);
  }
  if (typeof text !== "string") throw new DatasetError(`${at}: "text" must be a string (the image's caption)`);
  let references = [text];
  if (captions !== undefined && captions !== null) {
    if (!Array.isArray(captions) || captions.length === 0 || !captions.every((c) => typeof c === "string")) {
      throw new DatasetError(`${at}: "captions" must be a non-empty list of strings (or left out, to use "text")`);
    }
    references = captions as string[];
  }
  if (!fs.existsSync(file)) throw new DatasetError(`${at}: image ${fileName} not found in ${folder}`);
  return { id: fileName, file, text, references };
}

export interface OpenDatasetOptions {
  /** The split to read when `folder` is a dataset root. */
  split?: string;
}

/** A split and how it was chosen (so a CLI can say which one it took). */
export interface OpenedDataset extends DatasetSplit {
  /** "folder": `folder` was a split itself; "asked": `split` named it; "default": picked by DEFAULT_SPLIT_ORDER. */
  chosen: "folder" | "asked" | "default";
}

/**
 * Opens a split folder, or a split of a dataset root (`split`, else validation, test, train in that
 * order, each also under the folder names `datasets` accepts for it: val, dev, eval, training…).
 * openDataset("shapes").name → "validation"; openDataset("shapes", { split: "train" }).items.length → 600
 */
export function openDataset(folder: string, opts: OpenDatasetOptions = {}): OpenedDataset {
  if (!isDirectory(folder)) throw new DatasetError(`dataset folder ${folder} does not exist or is not a folder`);
  if (isSplitFolder(folder)) {
    const name = path.basename(path.resolve(folder));
    if (opts.split !== undefined && opts.split !== name) {
      throw new DatasetError(`${folder} is a single split (it has ${METADATA_FILE}); drop --split ${opts.split}, or point at the dataset root`);
    }
    return { ...readSplit(folder, name), chosen: "folder" };
  }
  const splits = listSplits(folder);
  if (splits.length === 0) {
    throw new DatasetError(`${folder} has no ${METADATA_FILE} and no split sub-folders with one; point at an imagefolder split or at a dataset root holding train/, validation/ or test/`);
  }
  if (opts.split !== undefined) {
    if (!splits.includes(opts.split)) throw new DatasetError(`${folder} has no split "${opts.split}"; its splits are: ${splits.join(", ")}`);
    return { ...readSplit(path.join(folder, opts.split), opts.split), chosen: "asked" };
  }
  const name = DEFAULT_SPLIT_ORDER.flatMap((aliases) => aliases.filter((a) => splits.includes(a)))[0];
  if (name === undefined) throw new DatasetError(`${folder} has no validation, test or train split; choose one of its splits with --split: ${splits.join(", ")}`);
  return { ...readSplit(path.join(folder, name), name), chosen: "default" };
}
