// Datasets stored by the service (issue 11): rows in the server's SQLite file, image bytes in files
// named by their SHA-256 under `<dir>/images/`. A file is written to `<dir>/tmp/`, fsynced, renamed
// into place and its folder fsynced before the item's row commits, so an item the caller saw
// committed is never missing or half written, even after SIGKILL. Uploaded file names are never
// used: the only names on disk are hex digests and random temporary names.
//
// The tables belong to the server database (its migrations create them from DATASET_TABLES); this
// layer takes the open better-sqlite3 handle and knows nothing else about serving.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Database } from "better-sqlite3";
import { type ImageFormat, sniffImageFormat } from "../preprocess/image.js";

export type Split = "train" | "validation" | "test";
export const SPLITS: readonly Split[] = ["train", "validation", "test"];

/** Captions per item and characters per caption (the routes and imports check them). */
export const MAX_CAPTIONS = 32;
export const MAX_CAPTION_LENGTH = 2000;

/** Dataset names: they appear in URLs, never on disk. */
export const DATASET_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/**
 * The schema, run once by the server database's migration that introduced it (never edit it: add a
 * migration). `seq` orders items for pagination; captions are a JSON array of strings.
 */
export const DATASET_TABLES = `
  CREATE TABLE datasets (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
  );
  CREATE TABLE dataset_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    dataset TEXT NOT NULL REFERENCES datasets (name) ON DELETE CASCADE,
    split TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    captions TEXT NOT NULL,
    reviewed INTEGER NOT NULL CHECK (reviewed IN (0, 1)),
    image_sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX dataset_items_page ON dataset_items (dataset, seq);
  CREATE INDEX dataset_items_by_image ON dataset_items (image_sha256);`;

export interface DatasetInfo {
  name: string;
  createdAt: string;
  items: number;
}

export interface StoredItem {
  id: string;
  dataset: string;
  split: Split;
  captions: string[];
  reviewed: boolean;
  imageSha256: string;
  mediaType: string;
  bytes: number;
  createdAt: string;
  updatedAt: string;
}

export interface NewItem {
  image: Uint8Array;
  split: Split;
  captions?: readonly string[];
  reviewed?: boolean;
}

export interface ItemChanges {
  captions?: readonly string[];
  reviewed?: boolean;
  split?: Split;
}

export const REVIEW_ACTIONS = ["accept", "edit", "reject"] as const;

/** A reviewer's decision; `captions` goes with `edit` only. */
export interface ReviewDecision {
  action: (typeof REVIEW_ACTIONS)[number];
  captions?: readonly string[];
}

export interface ItemQuery {
  split?: Split;
  reviewed?: boolean;
  /** true: items with at least one caption; false: items without any (to be drafted). */
  captioned?: boolean;
  /** Page size (default 100). */
  limit?: number;
  /** `next` of the previous page. */
  cursor?: string;
}

export type StoreErrorKind = "invalid_name" | "dataset_exists" | "unknown_dataset" | "unknown_item" | "invalid_cursor" | "not_an_image" | "nothing_to_accept" | "invalid_review";

/** A request the store refuses; `kind` says which (the API maps it to a status), the message what to fix. */
export class StoreError extends Error {
  override name = "StoreError";
  constructor(readonly kind: StoreErrorKind, message: string) {
    super(message);
  }
}

const MEDIA_TYPES: Record<ImageFormat, string> = { png: "image/png", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp" };

interface ItemRow {
  seq: number;
  id: string;
  dataset: string;
  split: Split;
  captions: string;
  reviewed: number;
  image_sha256: string;
  media_type: string;
  bytes: number;
  created_at: string;
  updated_at: string;
}

/** The stored datasets over the server's database `db` and the folder `dir` (created on first write). */
export class DatasetStore {
  constructor(private readonly db: Database, readonly dir: string) {}

  createDataset(name: string): DatasetInfo {
    if (!new RegExp(DATASET_NAME_PATTERN).test(name)) {
      throw new StoreError("invalid_name", `invalid dataset name ${JSON.stringify(name)}: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
    }
    const createdAt = new Date().toISOString();
    const inserted = this.db.prepare("INSERT INTO datasets (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING").run(name, createdAt);
    if (inserted.changes === 0) throw new StoreError("dataset_exists", `a dataset named "${name}" already exists; choose another name or add items to it`);
    return { name, createdAt, items: 0 };
  }

  /** Every dataset with its item count, by name. */
  listDatasets(): DatasetInfo[] {
    const rows = this.db
      .prepare("SELECT d.name, d.created_at, (SELECT COUNT(*) FROM dataset_items i WHERE i.dataset = d.name) AS items FROM datasets d ORDER BY d.name")
      .all() as { name: string; created_at: string; items: number }[];
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, items: r.items }));
  }

  /** Throws `unknown_dataset` unless `name` exists. */
  requireDataset(name: string): void {
    if (!this.db.prepare("SELECT 1 FROM datasets WHERE name = ?").get(name)) {
      throw new StoreError("unknown_dataset", `no dataset named "${name}"; GET /v1/datasets lists them, an admin creates one with POST /v1/datasets`);
    }
  }

  /**
   * Stores the image (durably, see the file comment) and then commits the item's row; when this
   * resolves, the item survives a crash. The image must be PNG, JPEG, GIF or WebP (the caller has
   * decoded it to check it is not damaged).
   */
  async addItem(dataset: string, item: NewItem): Promise<StoredItem> {
    this.requireDataset(dataset);
    const format = sniffImageFormat(item.image);
    if (format === undefined) throw new StoreError("not_an_image", "the file is not a PNG, JPEG, GIF or WebP image");
    const sha256 = createHash("sha256").update(item.image).digest("hex");
    const now = new Date().toISOString();
    const row: Omit<ItemRow, "seq"> = {
      id: randomUUID(),
      dataset,
      split: item.split,
      captions: JSON.stringify(item.captions ?? []),
      reviewed: item.reviewed ? 1 : 0,
      image_sha256: sha256,
      media_type: MEDIA_TYPES[format],
      bytes: item.image.length,
      created_at: now,
      updated_at: now,
    };
    for (let attempt = 0; ; attempt++) {
      await this.writeImage(sha256, item.image);
      // Checked and inserted in one write transaction: a concurrent delete (which unlinks files no row
      // uses, in its own write transaction) either ran before, and the check sees the file gone, or
      // runs after, and sees this row.
      const committed = this.db.transaction(() => {
        this.requireDataset(dataset);
        if (!fs.existsSync(this.imageFile(sha256))) return false;
        this.db
          .prepare(
            `INSERT INTO dataset_items (id, dataset, split, captions, reviewed, image_sha256, media_type, bytes, created_at, updated_at)
             VALUES (@id, @dataset, @split, @captions, @reviewed, @image_sha256, @media_type, @bytes, @created_at, @updated_at)`,
          )
          .run(row);
        return true;
      }).immediate();
      if (committed) return this.getItem(dataset, row.id);
      if (attempt >= 3) throw new Error(`the image file ${sha256} kept disappearing while it was being stored`);
    }
  }

  getItem(dataset: string, id: string): StoredItem {
    const row = this.db.prepare("SELECT * FROM dataset_items WHERE dataset = ? AND id = ?").get(dataset, id) as ItemRow | undefined;
    if (!row) {
      this.requireDataset(dataset);
      throw new StoreError("unknown_item", `dataset "${dataset}" has no item "${id}"; GET /v1/datasets/${dataset}/items lists them`);
    }
    return toItem(row);
  }

  /** One page of items, oldest first; `next` is the cursor of the following page, null after the last. */
  listItems(dataset: string, query: ItemQuery = {}): { items: StoredItem[]; next: string | null } {
    this.requireDataset(dataset);
    const limit = query.limit ?? 100;
    const after = query.cursor === undefined ? 0 : parseCursor(query.cursor);
    const where = ["dataset = @dataset", "seq > @after"];
    if (query.split !== undefined) where.push("split = @split");
    if (query.reviewed !== undefined) where.push("reviewed = @reviewed");
    if (query.captioned !== undefined) where.push(query.captioned ? "captions != '[]'" : "captions = '[]'");
    const rows = this.db
      .prepare(`SELECT * FROM dataset_items WHERE ${where.join(" AND ")} ORDER BY seq LIMIT @take`)
      .all({ dataset, after, split: query.split ?? null, reviewed: query.reviewed ? 1 : 0, take: limit + 1 }) as ItemRow[];
    const page = rows.slice(0, limit);
    return { items: page.map(toItem), next: rows.length > limit ? formatCursor(page[page.length - 1]!.seq) : null };
  }

  updateItem(dataset: string, id: string, changes: ItemChanges): StoredItem {
    const current = this.getItem(dataset, id);
    const next = {
      captions: JSON.stringify(changes.captions ?? current.captions),
      reviewed: (changes.reviewed ?? current.reviewed) ? 1 : 0,
      split: changes.split ?? current.split,
      updated_at: new Date().toISOString(),
      dataset,
      id,
    };
    this.db.prepare("UPDATE dataset_items SET captions = @captions, reviewed = @reviewed, split = @split, updated_at = @updated_at WHERE dataset = @dataset AND id = @id").run(next);
    return this.getItem(dataset, id);
  }

  /**
   * A reviewer's decision on an item's captions: `accept` them as they are, `edit` (replace them with
   * `captions`, reviewed), or `reject` (drop them: the item has no captions again, to be drafted anew).
   */
  reviewItem(dataset: string, id: string, decision: ReviewDecision): StoredItem {
    const withCaptions = decision.captions !== undefined && decision.captions.length > 0;
    if ((decision.action === "edit") !== withCaptions) {
      throw new StoreError("invalid_review", decision.action === "edit"
        ? 'edit replaces the captions: send {"action": "edit", "captions": ["…"]} with at least one caption'
        : `${decision.action} takes no captions; to change them send {"action": "edit", "captions": [...]}`);
    }
    switch (decision.action) {
      case "accept":
        if (this.getItem(dataset, id).captions.length === 0) {
          throw new StoreError("nothing_to_accept", `item "${id}" has no captions to accept; send {"action": "edit", "captions": [...]} or draft captions first (POST /v1/admin/jobs/draft)`);
        }
        return this.updateItem(dataset, id, { reviewed: true });
      case "edit":
        return this.updateItem(dataset, id, { captions: decision.captions!, reviewed: true });
      case "reject":
        return this.updateItem(dataset, id, { captions: [], reviewed: false });
    }
  }

  /** Deletes the item, and its image file when no other item (of any dataset) uses the same bytes. */
  deleteItem(dataset: string, id: string): void {
    const item = this.getItem(dataset, id);
    this.db.prepare("DELETE FROM dataset_items WHERE id = ?").run(id);
    // The file goes only after the row's deletion committed (a crash in between leaves an unused file,
    // never a row without its image), and under the write lock, so that an addItem of the same bytes
    // either committed its row before (the file stays) or checks for the file after (and rewrites it).
    this.db.transaction(() => {
      if (!this.db.prepare("SELECT 1 FROM dataset_items WHERE image_sha256 = ?").get(item.imageSha256)) {
        fs.rmSync(this.imageFile(item.imageSha256), { force: true });
      }
    }).immediate();
  }

  /** An item of `dataset` whose image has these bytes (`sha256`), if any: imports skip images already there. */
  findImage(dataset: string, sha256: string): string | undefined {
    const row = this.db.prepare("SELECT id FROM dataset_items WHERE dataset = ? AND image_sha256 = ? LIMIT 1").get(dataset, sha256) as { id: string } | undefined;
    return row?.id;
  }

  /** The stored bytes of an item's image. */
  readImage(item: StoredItem): Promise<Buffer> {
    return fs.promises.readFile(this.imageFile(item.imageSha256));
  }

  /** Where the image with this digest lives: `<dir>/images/<first two hex digits>/<digest>`. */
  imageFile(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256 digest: ${sha256}`);
    return path.join(this.dir, "images", sha256.slice(0, 2), sha256);
  }

  /** Temporary file, fsync, rename over the final name (same bytes if it exists), fsync the folder. */
  private async writeImage(sha256: string, bytes: Uint8Array): Promise<void> {
    const final = this.imageFile(sha256);
    const tmpDir = path.join(this.dir, "tmp");
    await fs.promises.mkdir(path.dirname(final), { recursive: true });
    await fs.promises.mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, `${randomBytes(12).toString("hex")}.part`);
    const file = await fs.promises.open(tmp, "wx");
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await fs.promises.rename(tmp, final);
    } catch (error) {
      await fs.promises.rm(tmp, { force: true });
      throw error;
    }
    const folder = await fs.promises.open(path.dirname(final), "r");
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }
}

function toItem(row: ItemRow): StoredItem {
  return {
    id: row.id,
    dataset: row.dataset,
    split: row.split,
    captions: JSON.parse(row.captions) as string[],
    reviewed: row.reviewed === 1,
    imageSha256: row.image_sha256,
    mediaType: row.media_type,
    bytes: row.bytes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Cursors are opaque to clients: the last item's sequence number, base64url-encoded. */
function formatCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString("base64url");
}

function parseCursor(cursor: string): number {
  const m = /^s(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("latin1"));
  if (!m) throw new StoreError("invalid_cursor", "invalid cursor; pass the `next` value of the previous page unchanged");
  return Number(m[1]);
}
