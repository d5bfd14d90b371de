// Importing into a stored dataset from a tree of files (a zip, a hub snapshot, one parquet file):
// parquet files give one item per row; imagefolder metadata (`metadata.jsonl`, `metadata.csv`) gives
// captions to the images of its folder; images under no metadata come without captions. Every row
// or image that cannot be used is skipped with its reason — one bad entry never stops the import.
// Items with captions are human data, so they arrive reviewed (unless a `reviewed` column says
// otherwise, as our export writes it); items without wait for drafting.
import { createHash } from "node:crypto";
import * as path from "node:path";
import { asyncBufferFromFile, type AsyncBuffer } from "hyparquet";
import { decodeImage, ImageDecodeError, sniffImageFormat } from "../preprocess/image.js";
import { ArchiveError, type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS, type FileTree, looksLikeTar, looksLikeZip, openTar, openZip, singleFileTree, type TreeFile } from "./archive.js";
import { captionsOf, csvRows, jsonlRows, type MetadataRow, RowError, splitFromPath, splitOfRow } from "./metadata.js";
import { inspectParquet, looksLikeParquet, ParquetError, type ParquetLayout, parquetRows } from "./parquet.js";
import type { DatasetStore, Split } from "./store.js";

/** What an import may read. */
export interface ImportLimits {
  /** Largest image (the server's maxUploadBytes). */
  maxImageBytes: number;
  maxPixels: number;
  /** Largest metadata file, or parquet file inside an archive (read whole). */
  maxMetadataBytes: number;
}

export interface ImportOptions extends ImportLimits {
  /** The split of rows without a `split` column (else the one their file or folder names, else train). */
  split?: Split;
  onProgress?: (done: number, total: number) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface ImportSkip {
  /** Where the entry came from: "train/metadata.jsonl line 3", "data/train.parquet row 7", "img/x.png". */
  source: string;
  reason: string;
}

export interface ImportResult {
  added: number;
  /** Items added per split. */
  splits: Record<Split, number>;
  skippedCount: number;
  /** The first MAX_REPORTED_SKIPS skipped entries with their reasons. */
  skipped: ImportSkip[];
  /** Files that are neither images, metadata nor parquet (README.md, …): not read. */
  ignoredFiles: number;
}

export const MAX_REPORTED_SKIPS = 1000;

const IMAGE_FILE = /\.(png|jpe?g|gif|webp)$/i;
const METADATA_FILE = /(^|\/)metadata\.(jsonl|csv)$/;
const PARQUET_FILE = /\.parquet$/i;

/** An item to add, or an entry skipped before its bytes were read. */
type Candidate = { source: string; split: Split; captions: string[]; reviewed?: boolean; image: () => Promise<Uint8Array> } | ImportSkip;

/** What a tree holds, found before anything is imported (so `total` is known for progress). */
export interface ImportPlan {
  parquet: { file: TreeFile; layout: ParquetLayout; buffer: AsyncBuffer }[];
  metadata: { file: TreeFile; folder: string; rows: MetadataRow[] }[];
  images: TreeFile[];
  /** Entries that could not even be listed (unsafe names, unreadable metadata or parquet). */
  broken: ImportSkip[];
  ignoredFiles: number;
  total: number;
}

/** An upload or repo that cannot be imported at all (the API answers 4xx with `code`); the message says what to fix. */
export class ImportSourceError extends Error {
  override name = "ImportSourceError";
  constructor(readonly code: "unsupported_file" | "invalid_archive" | "invalid_parquet" | "nothing_to_import", message: string) {
    super(message);
  }
}

/**
 * Opens an uploaded file by its content, never its name: a zip (checked against `limits` from its
 * central directory), a tar (our export) or a parquet file (its footer read and its image column found). `label` (the
 * client's file name) is only a string: a parquet file's split may come from it.
 */
export async function openUpload(file: string, head: Uint8Array, label: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<FileTree> {
  try {
    if (looksLikeZip(head)) return await openZip(file, limits);
    if (looksLikeTar(head)) return await openTar(file, limits);
    if (looksLikeParquet(head)) {
      await inspectParquet(await asyncBufferFromFile(file));
      return singleFileTree(file, label.endsWith(".parquet") ? label : `${label || "upload"}.parquet`);
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw new ImportSourceError("invalid_archive", error.message);
    if (error instanceof ParquetError) throw new ImportSourceError("invalid_parquet", `the parquet file cannot be imported: ${error.message}`);
    throw error;
  }
  throw new ImportSourceError("unsupported_file", "the file is neither a zip or tar archive nor a parquet file; send a .zip (or .tar) of an imagefolder (metadata.jsonl or metadata.csv beside the images) or a datasets .parquet file");
}

/** planImport, refusing a tree with nothing to import (saying why its entries could not be used). */
export async function planNonEmptyImport(tree: FileTree, limits: Pick<ImportLimits, "maxMetadataBytes">, what: string): Promise<ImportPlan> {
  const plan = await planImport(tree, limits);
  if (plan.total === 0) {
    const why = plan.broken.slice(0, 3).map((b) => `${b.source}: ${b.reason}`).join("; ");
    throw new ImportSourceError("nothing_to_import", `${what} has no images, imagefolder metadata (metadata.jsonl, metadata.csv) or parquet files to import${why ? ` (${why})` : ""}`);
  }
  return plan;
}

/** Sorts a tree's files into parquet, metadata and images, and reads the metadata and parquet footers. */
export async function planImport(tree: FileTree, limits: Pick<ImportLimits, "maxMetadataBytes">): Promise<ImportPlan> {
  const plan: ImportPlan = { parquet: [], metadata: [], images: [], broken: [], ignoredFiles: 0, total: 0 };
  for (const file of tree.files) {
    const kind = PARQUET_FILE.test(file.path) ? "parquet" : METADATA_FILE.test(file.path) ? "metadata" : IMAGE_FILE.test(file.path) ? "image" : null;
    if (kind === null) {
      plan.ignoredFiles++;
      continue;
    }
    if (file.problem) {
      plan.broken.push({ source: file.path, reason: file.problem });
      continue;
    }
    try {
      if (kind === "image") plan.images.push(file);
      else if (kind === "metadata") {
        const text = (await tree.read(file, limits.maxMetadataBytes)).toString("utf8");
        const rows = file.path.endsWith(".csv") ? csvRows(text, file.path) : jsonlRows(text, file.path);
        plan.metadata.push({ file, folder: path.posix.dirname(file.path).replace(/^\.$/, ""), rows });
      } else {
        const local = tree.localPath(file);
        const buffer = local !== null ? await asyncBufferFromFile(local) : toArrayBuffer(await tree.read(file, limits.maxMetadataBytes));
        plan.parquet.push({ file, layout: await inspectParquet(buffer), buffer });
      }
    } catch (error) {
      plan.broken.push({ source: file.path, reason: (error as Error).message });
    }
  }
  plan.total = plan.parquet.reduce((n, p) => n + p.layout.rows, 0) + plan.metadata.reduce((n, m) => n + m.rows.length, 0) + plan.images.length;
  return plan;
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Runs a plan into `dataset`: checks each image (size, format, a full decode), skips duplicates, adds the rest. */
export async function runImport(store: DatasetStore, dataset: string, tree: FileTree, plan: ImportPlan, opts: ImportOptions): Promise<ImportResult> {
  const result: ImportResult = { added: 0, splits: { train: 0, validation: 0, test: 0 }, skippedCount: 0, skipped: [], ignoredFiles: plan.ignoredFiles };
  const skip = (s: ImportSkip) => {
    result.skippedCount++;
    if (result.skipped.length < MAX_REPORTED_SKIPS) result.skipped.push(s);
  };
  plan.broken.forEach(skip);
  let done = 0;
  for await (const candidate of candidates(tree, plan, opts)) {
    opts.signal?.throwIfAborted();
    if ("reason" in candidate) skip(candidate);
    else {
      const reason = await addCandidate(store, dataset, candidate, opts);
      if (reason === null) {
        result.added++;
        result.splits[candidate.split]++;
      } else skip({ source: candidate.source, reason });
    }
    // `total` counts an image listed in metadata twice (row and file) while it is one entry: clamp, then finish at 1.
    if (++done % 25 === 0) await opts.onProgress?.(Math.min(done, plan.total), plan.total);
  }
  await opts.onProgress?.(plan.total, plan.total);
  return result;
}

/** Adds one item; null when added, else why not. */
async function addCandidate(store: DatasetStore, dataset: string, c: Exclude<Candidate, ImportSkip>, opts: ImportOptions): Promise<string | null> {
  let bytes: Uint8Array;
  try {
    bytes = await c.image();
  } catch (error) {
    return (error as Error).message;
  }
  if (bytes.length > opts.maxImageBytes) return `the image is ${bytes.length} bytes, more than the ${opts.maxImageBytes}-byte limit (maxUploadBytes)`;
  if (sniffImageFormat(bytes) === undefined) return "not a PNG, JPEG, GIF or WebP image";
  try {
    await decodeImage(bytes, { maxPixels: opts.maxPixels });
  } catch (error) {
    if (error instanceof ImageDecodeError) return error.message;
    throw error;
  }
  const existing = store.findImage(dataset, createHash("sha256").update(bytes).digest("hex"));
  if (existing !== undefined) return `the same image is already in the dataset (item ${existing})`;
  await store.addItem(dataset, { image: bytes, split: c.split, captions: c.captions, reviewed: c.reviewed ?? c.captions.length > 0 });
  return null;
}

/** Every entry of the plan in order: parquet rows, metadata rows, then images no metadata covers. */
async function* candidates(tree: FileTree, plan: ImportPlan, opts: ImportOptions): AsyncGenerator<Candidate> {
  const splitOf = (file: string, fileName = false) => opts.split ?? splitFromPath(file, fileName) ?? "train";
  for (const { file, layout, buffer } of plan.parquet) {
    const fileSplit = splitOf(file.path, true);
    try {
      for await (const row of parquetRows(buffer, layout)) {
        const source = `${file.path} row ${row.index}`;
        const image = row.image;
        if (image === null) {
          yield { source, reason: `no image bytes in column "${layout.imageColumn}"${row.imagePath ? ` (only a path: ${row.imagePath})` : ""}` };
          continue;
        }
        yield fromRow(source, row.columns, fileSplit, async () => image);
      }
    } catch (error) {
      yield { source: file.path, reason: `the rest of the file could not be read (${(error as Error).message})` };
    }
  }
  const byPath = new Map(plan.images.map((f) => [f.path, f]));
  const listed = new Set<string>();
  for (const { folder, rows } of plan.metadata) {
    for (const { at, row, error } of rows) {
      if (row === undefined) {
        yield { source: at, reason: error! };
        continue;
      }
      const name = row.file_name;
      if (typeof name !== "string" || name === "") {
        yield { source: at, reason: '"file_name" must name the image (relative to the metadata file\'s folder)' };
        continue;
      }
      const joined = path.posix.normalize(path.posix.join(folder, name));
      const image = byPath.get(joined);
      if (joined.startsWith("../") || path.posix.isAbsolute(name) || (folder !== "" && !joined.startsWith(`${folder}/`))) {
        yield { source: at, reason: `file_name ${JSON.stringify(name)} leaves the metadata file's folder` };
      } else if (image === undefined) {
        yield { source: at, reason: `image ${JSON.stringify(name)} is not in ${folder === "" ? "the archive" : `${folder}/`}` };
      } else {
        listed.add(joined);
        // The image's own path names the split (a root metadata file may list train/… and test/… images).
        yield fromRow(at, row, splitOf(joined), () => tree.read(image, opts.maxImageBytes));
      }
    }
  }
  const folders = plan.metadata.map((m) => m.folder);
  for (const image of plan.images) {
    if (listed.has(image.path)) continue;
    const covering = folders.find((f) => f === "" || image.path.startsWith(`${f}/`));
    if (covering !== undefined) {
      yield { source: image.path, reason: `not listed in ${covering === "" ? "" : `${covering}/`}metadata (add a row with its file_name)` };
      continue;
    }
    yield { source: image.path, split: splitOf(image.path), captions: [], image: () => tree.read(image, opts.maxImageBytes) };
  }
}

/** A row's captions and split (its own `split` column first, else the one its file or folder implies). */
function fromRow(source: string, row: Record<string, unknown>, split: Split, image: () => Promise<Uint8Array>): Candidate {
  try {
    const captions = captionsOf(row);
    // A `reviewed` column (our export writes one) is kept; otherwise captions are human data.
    const reviewed = typeof row.reviewed === "boolean" ? row.reviewed && captions.length > 0 : undefined;
    return { source, split: splitOfRow(row) ?? split, captions, reviewed, image };
  } catch (error) {
    if (error instanceof RowError) return { source, reason: error.message };
    throw error;
  }
}

