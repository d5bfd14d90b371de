// Uploaded import files wait for their job under `<store dir>/uploads/<random hex>.upload`: the
// name is ours, never the client's, and the job payload carries only the random id.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

const STAGED_ID = /^[0-9a-f]{24}$/;

export class ImportStaging {
  /** Files staged from now on are this process's: a sweep never takes one (its job may not be queued yet). */
  private readonly startedAt = Date.now();

  constructor(readonly dir: string) {}

  /** Where a staged upload lives; throws for anything that is not one of our ids. */
  file(id: string): string {
    if (!STAGED_ID.test(id)) throw new Error(`not a staged upload id: ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id}.upload`);
  }

  /** Writes `stream` to a new staged file and returns its id; the file is removed when the stream fails. */
  async stage(stream: Readable): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const id = randomBytes(12).toString("hex");
    try {
      await pipeline(stream, fs.createWriteStream(this.file(id), { flags: "wx" }));
    } catch (error) {
      await this.remove(id);
      throw error;
    }
    return id;
  }

  /** The first bytes of a staged file (to tell a zip, a tar and a parquet file apart). */
  async head(id: string, bytes = 512): Promise<Buffer> {
    const handle = await fs.promises.open(this.file(id), "r");
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(bytes), 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.file(id), { force: true });
  }

  /**
   * Removes the staged files that were written before this process started and are not in `inUse`
   * (left by a process that died between staging and queueing, or by a job that never ran); returns their ids.
   */
  async sweep(inUse: ReadonlySet<string>): Promise<string[]> {
    const names = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      const id = name.endsWith(".upload") ? name.slice(0, -".upload".length) : "";
      if (!STAGED_ID.test(id) || inUse.has(id)) continue;
      const stat = await fs.promises.stat(this.file(id)).catch(() => null);
      if (!stat || stat.mtimeMs >= this.startedAt) continue;
      await this.remove(id);
      removed.push(id);
    }
    return removed;
  }
}
