// What the jobs over stored datasets (draft, eval) share: the services they use, and reading every
// item a query selects. These jobs run in the API process, next to the dataset store (rows in its
// SQLite file, images in its data dir), in both queue modes; they caption through the CaptionService,
// so with --redis the workers' models do the captioning.
import type { DatasetStore, ItemQuery, StoredItem } from "../../datasets/store.js";
import type { Restyler } from "../../enrich/index.js";
import type { CaptionService } from "../caption_service.js";
import type { JobContext } from "../queue/types.js";
import type { ServerLimits } from "../config.js";
import type { ModelRegistry } from "../registry.js";

export interface DatasetJobDeps {
  datasets: DatasetStore;
  captions: CaptionService;
  /** The configured model names (and, in-process, the models themselves, for option checks). */
  registry: ModelRegistry;
  restyler: Restyler;
  limits: ServerLimits;
  /** Where eval jobs write their HTML reports (`<dataDir>/reports`). */
  reportsDir: string;
}

/** Page size when a job reads a whole selection. */
const PAGE = 1000;

/** Every item of `dataset` that `query` selects, oldest first (the store's order). */
export function allItems(datasets: DatasetStore, dataset: string, query: Omit<ItemQuery, "limit" | "cursor">): StoredItem[] {
  const items: StoredItem[] = [];
  let cursor: string | undefined;
  do {
    const page = datasets.listItems(dataset, { ...query, limit: PAGE, cursor });
    items.push(...page.items);
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
  return items;
}

/** True when `query` selects at least one item of `dataset`. */
export function anyItem(datasets: DatasetStore, dataset: string, query: Omit<ItemQuery, "limit" | "cursor">): boolean {
  return datasets.listItems(dataset, { ...query, limit: 1 }).items.length > 0;
}

/**
 * A job's progress over `total` items: the fraction, and `{done, total}` as the job's details where the
 * queue keeps details with its progress (a JobContext whose `progress` takes a second argument; one
 * that does not ignores it, and GET /v1/jobs/{id} shows the fraction only).
 */
export function reportProgress(ctx: JobContext, done: number, total: number): Promise<void> {
  const progress = ctx.progress as (fraction: number, details?: unknown) => Promise<void>;
  return progress.call(ctx, total === 0 ? 1 : done / total, { done, total });
}
