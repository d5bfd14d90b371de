/**
 * `captioner describe` as a library: caption image files and add the requested features, either
 * for a list of files or for a whole folder written out as training data — a sidecar per image
 * (`photo.jpg` → `photo.txt` / `photo.json`, the LoRA/Dreambooth convention) or one `metadata.jsonl`
 * (Hugging Face imagefolder). A folder run survives unreadable files, skips images already done and
 * writes each result as soon as it exists, so it can be stopped and rerun to continue.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Captioner } from "../generation/captioner.js";
import type { CaptionOptions } from "../generation/options.js";
import { concatFloat32 } from "../preprocess/image_processor.js";
import { exifTransposed } from "../preprocess/orientation.js";
import { type DescribedImage, describeImage, EarlyColors, type Feature, needsCaptions, wantsColors } from "./features.js";
import type { Restyler } from "./restyle.js";

export interface DescribeRunOptions {
  features: readonly Feature[];
  /** Needed when `features` has `description`. */
  restyler?: Restyler;
  style?: string;
  exifTranspose?: boolean;
  /** Generation options of every caption (several return sequences give tags more to agree on). */
  caption?: CaptionOptions;
  /** Images per model call (default 8). */
  batchSize?: number;
}

/** One image's result: the `captioner describe --json` entry. */
export interface ImageDescription extends DescribedImage {
  image: string;
  caption?: string;
}

/** The outcome of one file: its description, or why it could not be read. */
export type FileOutcome = { file: string; result: ImageDescription } | { file: string; error: string };

/**
 * Describes `files` in batches; `onResult` hears each file (in order) as soon as its batch is done.
 * An unreadable or undecodable file becomes an `error` outcome, never a thrown error.
 */
export async function describeFiles(captioner: Captioner, files: readonly string[], options: DescribeRunOptions, onResult?: (outcome: FileOutcome) => Promise<void> | void): Promise<FileOutcome[]> {
  const outcomes: FileOutcome[] = [];
  const batchSize = options.batchSize ?? 8;
  for (let at = 0; at < files.length; at += batchSize) {
    for (const outcome of await describeBatch(captioner, files.slice(at, at + batchSize), options)) {
      outcomes.push(outcome);
      await onResult?.(outcome);
    }
  }
  return outcomes;
}

async function describeBatch(captioner: Captioner, files: readonly string[], options: DescribeRunOptions): Promise<FileOutcome[]> {
  // Each file is read and decoded alone, so one bad file fails only itself.
  // Colours from the caption's decode: no second decode of the file.
  const early = wantsColors(options.features) ? new EarlyColors() : undefined;
  const loaded = await Promise.all(files.map(async (file, n) => {
    try {
      const raw = new Uint8Array(await fs.readFile(file));
      const bytes = options.exifTranspose ? await exifTransposed(raw) : raw;
      const pixels = needsCaptions(options.features) ? await captioner.pixels([bytes], undefined, early && ((image) => early.see(n, bytes, image))) : undefined;
      return { file, bytes, pixels, n };
    } catch (error) {
      return { file, error: (error as Error).message };
    }
  }));
  const good = loaded.filter((l): l is { file: string; bytes: Uint8Array; pixels: Float32Array | undefined; n: number } => !("error" in l));
  const captions = needsCaptions(options.features) && good.length > 0
    ? await captioner.captionPixels(concatFloat32(good.map((g) => g.pixels!)), good.length, options.caption)
    : good.map(() => []);
  const described = await Promise.all(good.map(async (g, i): Promise<FileOutcome> => {
    const texts = captions[i]!.map((c) => c.text);
    try {
      const extras = await describeImage(g.bytes, texts, { features: options.features.filter((f) => f !== "caption"), restyler: options.restyler, style: options.style, knownColors: early?.colorsOf(g.n) });
      return { file: g.file, result: { image: g.file, ...(options.features.includes("caption") ? { caption: texts[0] } : {}), ...extras } };
    } catch (error) {
      return { file: g.file, error: (error as Error).message };
    }
  }));
  const byFile = new Map([...described, ...loaded.filter((l) => "error" in l)].map((o) => [o.file, o as FileOutcome]));
  return files.map((f) => byFile.get(f)!);
}

// ---- folders -------------------------------------------------------------------------------------

export const WRITE_MODES = {
  txt: "a .txt sidecar per image with its text (photo.jpg → photo.txt)",
  json: "a .json sidecar per image with every requested feature (photo.jpg → photo.json)",
  imagefolder: "one metadata.jsonl in the folder (Hugging Face imagefolder: file_name, text, features)",
} as const;
export type WriteMode = keyof typeof WRITE_MODES;

/** The file extensions taken as images (the decoders sniff the real format). */
const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".gif"]);
export const METADATA_FILE = "metadata.jsonl";

export interface FolderOptions extends DescribeRunOptions {
  recursive?: boolean;
  write: WriteMode;
  /** Put before every text, as given (e.g. a trigger word: "sks, "). */
  prefix?: string;
  suffix?: string;
  /** Describe images that already have a result; default false: skip them. */
  overwrite?: boolean;
  onProgress?: (progress: FolderProgress) => void;
}

export interface FolderProgress {
  done: number;
  total: number;
  file: string;
  elapsedMs: number;
  imagesPerSecond: number;
  etaMs: number;
}

export interface FolderSummary {
  /** Image files found. */
  found: number;
  described: number;
  /** Already had a result (no --overwrite). */
  skipped: number;
  failed: { file: string; error: string }[];
  /** The metadata.jsonl or the sidecars written. */
  written: string[];
}

/**
 * The text a training set wants for an image: the description when one was asked for, else the
 * caption (else the tags), with prefix and suffix.
 */
export function trainingText(result: ImageDescription, prefix = "", suffix = ""): string {
  const text = result.description?.text ?? result.caption ?? result.tags?.map((t) => t.tag).join(", ") ?? "";
  return `${prefix}${text}${suffix}`;
}

/** Image files under `dir`, sorted (hidden files and folders left out). */
export async function listImages(dir: string, recursive = false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string) => {
    const entries = await fs.readdir(at, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith(".")) continue;
      const p = path.join(at, e.name);
      if (e.isDirectory()) {
        if (recursive) await walk(p);
      } else if (IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase())) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

const sidecar = (file: string, ext: string) => path.join(path.dirname(file), `${path.basename(file, path.extname(file))}.${ext}`);
/** imagefolder's file_name: relative to the folder, with forward slashes. */
const fileName = (dir: string, file: string) => path.relative(dir, file).split(path.sep).join("/");

/** Writes `text` so that a stopped run never leaves half a file behind that a rerun would skip. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

/**
 * The file_names already in a metadata.jsonl; a cut-off last line (a run stopped mid-write) is
 * removed so that appending continues cleanly.
 */
async function readMetadata(file: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch {
    return new Set();
  }
  const done = new Set<string>();
  const lines = text.split("\n");
  const complete = text.endsWith("\n") || text === "" ? lines : lines.slice(0, -1);
  for (const line of complete) {
    if (!line.trim()) continue;
    try {
      const name = (JSON.parse(line) as { file_name?: unknown }).file_name;
      if (typeof name === "string") done.add(name);
    } catch {
      // a line another tool broke: left as it is; its image is described again
    }
  }
  if (complete.length !== lines.length) await fs.writeFile(file, complete.filter((l) => l !== "").map((l) => `${l}\n`).join(""));
  return done;
}

/**
 * Describes every image of `dir` and writes the results (see {@link WRITE_MODES}). Never throws
 * for one bad image: it is listed in `failed`.
 */
export async function describeFolder(captioner: Captioner, dir: string, options: FolderOptions): Promise<FolderSummary> {
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new Error(`--dir ${dir} is not a folder`);
  const images = await listImages(dir, options.recursive);
  const metadata = path.join(dir, METADATA_FILE);
  let pending: string[];
  if (options.write === "imagefolder") {
    if (options.overwrite) await fs.writeFile(metadata, "");
    const done = await readMetadata(metadata);
    pending = images.filter((f) => !done.has(fileName(dir, f)));
  } else {
    const ext = options.write;
    const exists = await Promise.all(images.map((f) => fs.access(sidecar(f, ext)).then(() => true, () => false)));
    pending = options.overwrite ? images : images.filter((_, i) => !exists[i]);
  }

  const summary: FolderSummary = { found: images.length, described: 0, skipped: images.length - pending.length, failed: [], written: [] };
  const started = performance.now();
  let done = 0;
  await describeFiles(captioner, pending, options, async (outcome) => {
    done++;
    if ("error" in outcome) summary.failed.push({ file: outcome.file, error: outcome.error });
    else {
      const { result } = outcome;
      const text = trainingText(result, options.prefix, options.suffix);
      if (options.write === "imagefolder") {
        const { image: _image, ...features } = result;
        await fs.appendFile(metadata, `${JSON.stringify({ file_name: fileName(dir, outcome.file), text, ...features })}\n`);
        if (summary.written.length === 0) summary.written.push(metadata);
      } else {
        const target = sidecar(outcome.file, options.write);
        const body = options.write === "txt" ? `${text}\n` : `${JSON.stringify({ ...result, image: path.basename(outcome.file), text }, null, 2)}\n`;
        await writeAtomically(target, body);
        summary.written.push(target);
      }
      summary.described++;
    }
    const elapsedMs = performance.now() - started;
    const imagesPerSecond = done / Math.max(elapsedMs / 1000, 1e-9);
    options.onProgress?.({ done, total: pending.length, file: outcome.file, elapsedMs, imagesPerSecond, etaMs: ((pending.length - done) / imagesPerSecond) * 1000 });
  });
  return summary;
}
