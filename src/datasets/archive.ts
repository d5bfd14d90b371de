// The files an import reads, behind one interface: a zip archive (read in place, entry by entry;
// nothing is ever extracted, so an entry's name never becomes a path on disk) or a folder whose
// file list someone else vetted (a hub snapshot). Names are "/"-separated relative paths.
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";
import yauzl from "yauzl";

/** An archive that cannot be read at all, or that breaks the size rules; the message says what to fix. */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

export interface TreeFile {
  path: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** Set when the entry can never be read (unsafe name, encrypted); the import reports it. */
  problem?: string;
}

export interface FileTree {
  readonly files: readonly TreeFile[];
  /** The whole file; refuses files larger than `maxBytes`. */
  read(file: TreeFile, maxBytes: number): Promise<Buffer>;
  /** A local file holding `file`'s bytes when there is one (parquet is read from it in pieces), else null. */
  localPath(file: TreeFile): string | null;
  close(): Promise<void>;
}

/** Bounds on an archive, checked from its central directory before anything is decompressed. */
export interface ArchiveLimits {
  maxEntries: number;
  /** Sum of the entries' uncompressed sizes (the zip-bomb bound; yauzl also fails an entry that inflates past its declared size). */
  maxUncompressedBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({ maxEntries: 100_000, maxUncompressedBytes: 8 * 1024 ** 3 });

/** "PK\x03\x04" (or an empty archive's "PK\x05\x06"). */
export function looksLikeZip(head: Uint8Array): boolean {
  return head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

/** Opens a zip file: reads its central directory and checks the limits; the entries are read later, one at a time. */
export async function openZip(file: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<FileTree> {
  let zip: yauzl.ZipFile;
  try {
    // Raw names: yauzl would reject the whole archive for one unsafe name; we report that entry instead.
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (error) {
    throw new ArchiveError(`the file is not a readable zip archive (${(error as Error).message}); send a .zip of the imagefolder`);
  }
  try {
    if (zip.entryCount > limits.maxEntries) throw new ArchiveError(`the archive has ${zip.entryCount} entries; the limit is ${limits.maxEntries}: split it into several imports`);
    const entries = await readDirectory(zip);
    const total = entries.reduce((sum, e) => sum + e.uncompressedSize, 0);
    if (total > limits.maxUncompressedBytes) {
      throw new ArchiveError(`the archive would unpack to ${total} bytes; the limit is ${limits.maxUncompressedBytes}: split it into several imports`);
    }
    return new ZipTree(zip, entries);
  } catch (error) {
    zip.close();
    throw error;
  }
}

function readDirectory(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on("entry", (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.on("end", () => resolve(entries));
    zip.on("error", (error: Error) => reject(new ArchiveError(`the zip archive is damaged (${error.message})`)));
    zip.readEntry();
  });
}

/** An entry's name as a string, and why it can never be read, if so. */
function entryName(entry: yauzl.Entry): { name: string; problem?: string } {
  const raw = entry.fileName as unknown as Buffer;
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
  const unsafe = yauzl.validateFileName(name) ?? (name.includes("\0") ? "NUL in the name" : null);
  if (unsafe) return { name, problem: `unsafe entry name (${unsafe}); skipped` };
  if (entry.isEncrypted()) return { name, problem: "the entry is encrypted; skipped" };
  return { name };
}

class ZipTree implements FileTree {
  readonly files: TreeFile[] = [];
  private readonly entries = new Map<TreeFile, yauzl.Entry>();

  constructor(private readonly zip: yauzl.ZipFile, entries: yauzl.Entry[]) {
    for (const entry of entries) {
      const { name, problem } = entryName(entry);
      if (name.endsWith("/")) continue; // a folder
      const file: TreeFile = { path: name, size: entry.uncompressedSize, ...(problem && { problem }) };
      this.files.push(file);
      this.entries.set(file, entry);
    }
  }

  async read(file: TreeFile, maxBytes: number): Promise<Buffer> {
    if (file.problem) throw new ArchiveError(file.problem);
    if (file.size > maxBytes) throw new ArchiveError(`${file.size} bytes, more than the ${maxBytes}-byte limit`);
    const entry = this.entries.get(file)!;
    let stream: Readable;
    try {
      stream = await this.zip.openReadStreamPromise(entry);
    } catch (error) {
      throw new ArchiveError(`cannot read the entry (${(error as Error).message})`);
    }
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (error) {
      throw new ArchiveError(`the entry is damaged (${(error as Error).message})`);
    }
    return Buffer.concat(chunks);
  }

  localPath(): null {
    return null;
  }

  async close(): Promise<void> {
    this.zip.close();
  }
}

/**
 * The listed files of a folder, e.g. a hub snapshot and the file names the hub client checked. A
 * listed name that would leave the folder is refused all the same.
 */
export function folderTree(root: string, files: readonly string[]): FileTree {
  const inside = (file: string) => {
    const full = path.resolve(root, file);
    const rel = path.relative(root, full);
    return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? full : null;
  };
  const list: TreeFile[] = files.map((file) => {
    const full = inside(file);
    if (full === null) return { path: file, size: 0, problem: "the name leaves the folder; skipped" };
    return { path: file, size: fs.statSync(full).size };
  });
  return {
    files: list,
    async read(file, maxBytes) {
      if (file.problem) throw new ArchiveError(file.problem);
      if (file.size > maxBytes) throw new ArchiveError(`${file.size} bytes, more than the ${maxBytes}-byte limit`);
      return fs.promises.readFile(inside(file.path)!);
    },
    localPath: (file) => (file.problem ? null : inside(file.path)),
    close: async () => undefined,
  };
}

/** A single uploaded file (a parquet file) as a tree of one, named by the client's file name (a label only). */
export function singleFileTree(file: string, label: string): FileTree {
  const size = fs.statSync(file).size;
  const entry: TreeFile = { path: label, size };
  return {
    files: [entry],
    read: async (_file, maxBytes) => {
      if (size > maxBytes) throw new ArchiveError(`${size} bytes, more than the ${maxBytes}-byte limit`);
      return fs.promises.readFile(file);
    },
    localPath: () => file,
    close: async () => undefined,
  };
}
