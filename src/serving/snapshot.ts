// A train job's dataset snapshot: the stored dataset's train and validation items (reviewed ones
// only, unless the job says otherwise; items without captions never) frozen at the job's start as
// two imagefolder splits, so that training, a resume after a crash and the promotion gate all see
// the same data whatever happens to the dataset meanwhile. Images are hard links to the store's
// content-addressed files (a copy where links are impossible), named by item id; `snapshot.json`
// lists every item with its captions, and its SHA-256 identifies the snapshot.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { METADATA_FILE } from "../datasets/imagefolder.js";
import type { DatasetStore, Split, StoredItem } from "../datasets/store.js";
import { allItems } from "./jobs/datasets.js";
import type { SnapshotInfo } from "./versions.js";

/** The splits a training uses. */
export const SNAPSHOT_SPLITS = ["train", "validation"] as const satisfies readonly Split[];

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };

export interface SnapshotItem {
  id: string;
  split: Split;
  imageSha256: string;
  captions: string[];
}

/** The items a snapshot of `dataset` would hold now, oldest first per split. */
export function snapshotItems(datasets: DatasetStore, dataset: string, reviewedOnly: boolean): { train: StoredItem[]; validation: StoredItem[] } {
  const of = (split: Split) => allItems(datasets, dataset, { split, captioned: true, ...(reviewedOnly ? { reviewed: true } : {}) });
  return { train: of("train"), validation: of("validation") };
}

/** Why a dataset cannot be trained on now (an empty split), or null. */
export function snapshotProblem(items: { train: StoredItem[]; validation: StoredItem[] }, dataset: string, reviewedOnly: boolean): string | null {
  const empty = SNAPSHOT_SPLITS.filter((s) => items[s].length === 0);
  if (empty.length === 0) return null;
  const which = reviewedOnly ? "reviewed items with captions" : "items with captions";
  return `dataset "${dataset}" has no ${which} in its ${empty.join(" and ")} split${empty.length > 1 ? "s" : ""}; training needs both train and validation items${reviewedOnly ? " (review them, or send reviewed_only: false)" : ""}`;
}

/** The snapshot's split folders under `dir`. */
export const snapshotSplit = (dir: string, split: (typeof SNAPSHOT_SPLITS)[number]) => path.join(dir, split);

/**
 * Writes the snapshot of `dataset` into `dir` (atomically: built aside, then renamed), or reads the
 * one already there (a job resumed after a crash keeps the data it started with).
 */
export function writeSnapshot(datasets: DatasetStore, dataset: string, reviewedOnly: boolean, dir: string): SnapshotInfo {
  const file = path.join(dir, "snapshot.json");
  if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, "utf8")) as { info: SnapshotInfo }).info;
  const items = snapshotItems(datasets, dataset, reviewedOnly);
  const problem = snapshotProblem(items, dataset, reviewedOnly);
  if (problem) throw new Error(problem);
  const tmp = `${dir}.tmp-${randomBytes(6).toString("hex")}`;
  const listed: SnapshotItem[] = [];
  for (const split of SNAPSHOT_SPLITS) {
    const folder = snapshotSplit(tmp, split);
    fs.mkdirSync(folder, { recursive: true });
    const lines: string[] = [];
    for (const item of items[split]) {
      const name = `${item.id}.${EXTENSIONS[item.mediaType] ?? "img"}`;
      linkOrCopy(datasets.imageFile(item.imageSha256), path.join(folder, name));
      lines.push(JSON.stringify({ file_name: name, text: item.captions[0], captions: item.captions }));
      listed.push({ id: item.id, split, imageSha256: item.imageSha256, captions: item.captions });
    }
    fs.writeFileSync(path.join(folder, METADATA_FILE), `${lines.join("\n")}\n`);
  }
  const sha256 = createHash("sha256").update(JSON.stringify(listed)).digest("hex");
  const info: SnapshotInfo = { sha256, trainItems: items.train.length, validationItems: items.validation.length, reviewedOnly };
  fs.writeFileSync(path.join(tmp, "snapshot.json"), `${JSON.stringify({ dataset, info, items: listed })}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.renameSync(tmp, dir);
  return info;
}

/** A hard link keeps the bytes even if the item is deleted from the dataset later; a copy where links fail (another file system). */
function linkOrCopy(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}
