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

/** "ustar" at offset 257 of the first header: a tar archive (our export's format). */
export function looksLikeTar(head: Uint8Array): boolean {
  return head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar";
}

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

const BLOCK = 512;

/**
 * Opens a tar file (ustar, with GNU long names and pax `path` records): one pass over its headers
 * records where each file's bytes are; they are read later, one file at a time, by offset.
 */
export async function openTar(file: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<FileTree> {
  const handle = await fs.promises.open(file, "r");
  const size = (await handle.stat()).size;
  const offsets = new Map<TreeFile, number>();
  const readAt = async (position: number, length: number) => {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    if (bytesRead !== length) throw new ArchiveError("the tar archive is cut short");
    return buffer;
  };
  try {
    let position = 0;
    let longName: string | undefined;
    while (position + BLOCK <= size) {
      const header = await readAt(position, BLOCK);
      if (header.every((b) => b === 0)) break; // end of archive
      if (!tarChecksumOk(header)) throw new ArchiveError(`the tar archive is damaged (bad header checksum at byte ${position})`);
      const length = tarNumber(header.subarray(124, 136));
      const type = String.fromCharCode(header[156]!);
      const data = position + BLOCK;
      if (data + length > size) throw new ArchiveError("the tar archive is cut short");
      if (type === "L" || type === "x") {
        const text = (await readAt(data, length)).toString("utf8");
        longName = type === "L" ? text.replace(/\0+$/, "") : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1] ?? longName);
      } else {
        const prefix = tarString(header.subarray(345, 500));
        const short = tarString(header.subarray(0, 100));
        const name = longName ?? (prefix ? `${prefix}/${short}` : short);
        longName = undefined;
        if (type === "0" || type === "\0") {
          const unsafe = yauzl.validateFileName(name) ?? (name.includes("\0") ? "NUL in the name" : null);
          const entry: TreeFile = { path: name.replace(/^\.\//, ""), size: length, ...(unsafe && { problem: `unsafe entry name (${unsafe}); skipped` }) };
          offsets.set(entry, data);
          if (offsets.size > limits.maxEntries) throw new ArchiveError(`the archive has more than ${limits.maxEntries} files; split it into several imports`);
        }
      }
      position = data + Math.ceil(length / BLOCK) * BLOCK;
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return {
    files: [...offsets.keys()],
    async read(entry, maxBytes) {
      if (entry.problem) throw new ArchiveError(entry.problem);
      if (entry.size > maxBytes) throw new ArchiveError(`${entry.size} bytes, more than the ${maxBytes}-byte limit`);
      return readAt(offsets.get(entry)!, entry.size);
    },
    localPath: () => null,
    close: () => handle.close(),
  };
}

function tarString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

/** Octal, or base-256 when the high bit of the first byte is set (sizes over 8 GiB). */
function tarNumber(field: Buffer): number {
  if (field[0]! & 0x80) return field.subarray(1).reduce((n, b) => n * 256 + b, field[0]! & 0x7f);
  return parseInt(tarString(field).trim() || "0", 8);
}

function tarChecksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum === tarNumber(header.subarray(148, 156));
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

/** Every file under `root` (symlinks to files included, as in a hub snapshot), as "/"-separated relative paths. */
export function listFolder(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile() || (e.isSymbolicLink() && fs.statSync(path.join(e.parentPath, e.name)).isFile()))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}
