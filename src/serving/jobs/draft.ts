// Draft jobs (issue 11, caption drafting): caption a stored dataset's items with a configured model,
// optionally restyled through a configured style, and store the drafts as the items' captions,
// unreviewed, for a reviewer to accept, edit or reject. By default only items without captions are
// drafted: captions a person wrote are never replaced unless the job says `overwrite`.
import { StoreError, type StoredItem } from "../../datasets/store.js";
import { checkModelOptions, InputError } from "../caption_service.js";
import { describeImages, requestFeatures } from "../describe.js";
import type { JobContext } from "../queue/types.js";
import { RemoteInputError } from "../remote_caption.js";
import { whenRoom } from "./caption.js";
import { allItems, anyItem, type DatasetJobDeps, reportProgress } from "./datasets.js";
import type { JobHandlerSpec } from "./handlers.js";
import { DRAFT_JOB, type DraftJobPayload, type DraftJobResult } from "./kinds.js";

/** Failures listed in a result (the count is `total - drafted - skipped`). */
const MAX_LISTED_FAILURES = 100;

/** The items a draft job works on. */
const selection = (p: DraftJobPayload) => ({ split: p.split, ...(p.overwrite ? {} : { captioned: false }) });

/**
 * Checks a draft before it is queued, so a bad one is a 4xx and never a failed job: unknown dataset
 * or model 404; options, style or an empty selection 400.
 */
export async function checkDraft(deps: DatasetJobDeps, draft: DraftJobPayload): Promise<void> {
  deps.datasets.requireDataset(draft.dataset);
  await checkModelOptions(deps.registry, draft.model, draft.options, deps.limits);
  if (draft.style !== undefined) checkDraftStyle(deps, draft.style);
  if (!anyItem(deps.datasets, draft.dataset, selection(draft))) {
    const where = draft.split ? `split "${draft.split}" of dataset "${draft.dataset}"` : `dataset "${draft.dataset}"`;
    throw new InputError(400, "nothing_to_draft", draft.overwrite
      ? `${where} has no items; add items first (POST /v1/datasets/${draft.dataset}/items)`
      : `every item of ${where} has captions already; set "overwrite": true to redraft them (their captions are replaced)`);
  }
}

/** A draft's style must be a configured one that answers text (a JSON style's reply is no caption). */
function checkDraftStyle(deps: DatasetJobDeps, style: string): void {
  requestFeatures({ features: ["caption", "description"], style }, deps.restyler); // unknown style: 400 naming them
  if (deps.restyler.config.styles[style]!.jsonSchema) {
    const text = deps.restyler.styles.filter((s) => !deps.restyler.config.styles[s]!.jsonSchema);
    throw new InputError(400, "unsupported_style", `style "${style}" answers JSON, which is no caption; choose a text style: ${text.join(", ")}`);
  }
}

export function draftJobs(deps: DatasetJobDeps): JobHandlerSpec<typeof DRAFT_JOB> {
  return { kind: DRAFT_JOB, handle: (job, ctx) => new Drafting(deps, job.payload, ctx).run() };
}

/** One image's draft, or why the model could not caption it. */
type Draft = string[] | InputError | RemoteInputError;

/** One run of a draft job: its items a batch at a time, with the counts of its result. */
class Drafting {
  private readonly result: DraftJobResult;

  constructor(private readonly deps: DatasetJobDeps, private readonly job: DraftJobPayload, private readonly ctx: JobContext) {
    this.result = {
      dataset: job.dataset, model: job.model, split: job.split ?? null, style: job.style ?? null,
      total: 0, drafted: 0, skipped: { captioned: 0, deleted: 0 }, failed: [], llm: job.style ? { used: 0, fallback: 0 } : null,
    };
  }

  async run(): Promise<DraftJobResult> {
    const ids = allItems(this.deps.datasets, this.job.dataset, selection(this.job)).map((item) => item.id);
    this.result.total = ids.length;
    // The caption routes' batch: what one model request may hold.
    const chunk = this.deps.limits.maxImagesPerRequest;
    for (let at = 0; at < ids.length; at += chunk) {
      if (this.ctx.signal.aborted) throw new Error("the job was cancelled");
      await this.draftBatch(ids.slice(at, at + chunk));
      await reportProgress(this.ctx, Math.min(at + chunk, ids.length), ids.length);
    }
    return this.result;
  }

  private async draftBatch(ids: readonly string[]): Promise<void> {
    const todo = (await Promise.all(ids.map((id) => this.load(id)))).filter((t) => t !== null);
    if (todo.length === 0) return;
    const drafts = await this.draftsOf(todo.map((t) => t.image));
    todo.forEach(({ item }, i) => this.store(item, drafts[i]!));
  }

  /** The item and its image bytes, or null when it was deleted or captioned since the job started (counted). */
  private async load(id: string): Promise<{ item: StoredItem; image: Uint8Array } | null> {
    const item = this.current(id);
    if (item === null) return null;
    try {
      return { item, image: new Uint8Array(await this.deps.datasets.readImage(item)) };
    } catch (error) {
      // Its image file goes with the last item that uses it: gone means deleted meanwhile.
      if ((error as NodeJS.ErrnoException).code === "ENOENT" && this.current(id) === null) return null;
      throw error;
    }
  }

  /** The item as stored now, or null (counted as skipped) when it is gone or, without overwrite, has captions. */
  private current(id: string): StoredItem | null {
    let item: StoredItem;
    try {
      item = this.deps.datasets.getItem(this.job.dataset, id);
    } catch (error) {
      if (error instanceof StoreError && error.kind === "unknown_item") {
        this.result.skipped.deleted++;
        return null;
      }
      throw error;
    }
    if (!this.job.overwrite && item.captions.length > 0) {
      this.result.skipped.captioned++;
      return null;
    }
    return item;
  }

  /**
   * Drafts for `images`, as POST /v1/captions would caption them with the job's options (and style).
   * One image the model refuses fails its whole batch: then each image goes alone, so only it fails.
   */
  private async draftsOf(images: readonly Uint8Array[]): Promise<Draft[]> {
    try {
      return await this.describe(images);
    } catch (error) {
      if (!(error instanceof InputError || error instanceof RemoteInputError)) throw error;
      if (images.length === 1) return [error];
      const drafts: Draft[] = [];
      for (const image of images) drafts.push(...(await this.draftsOf([image])));
      return drafts;
    }
  }

  private async describe(images: readonly Uint8Array[]): Promise<string[][]> {
    const { model, options, style } = this.job;
    const request = style === undefined ? {} : { features: ["caption", "description"], style };
    // Its decodes wait in the decoding budget (a job is not interactive); whenRoom waits out a full batcher queue.
    const results = await whenRoom(() => describeImages(this.deps, model, images, options, request, { background: this.ctx.signal }), this.ctx);
    return results.map((r) => {
      if (r.description === undefined) return distinct((r.captions ?? []).map((c) => c.text));
      this.result.llm![r.description.llm.used ? "used" : "fallback"]++;
      return distinct([r.description.text]);
    });
  }

  /** Stores one draft. Reading and writing with no await between: nothing in this process interleaves with the check. */
  private store(item: StoredItem, draft: Draft): void {
    if (this.current(item.id) === null) return;
    const error = draft instanceof Error ? draft.message : draft.length === 0 ? "the model's caption is empty" : null;
    if (error !== null) {
      if (this.result.failed.length < MAX_LISTED_FAILURES) this.result.failed.push({ id: item.id, error });
      return;
    }
    this.deps.datasets.updateItem(this.job.dataset, item.id, { captions: draft as string[], reviewed: false });
    this.result.drafted++;
  }
}

/** Non-empty texts, each once, in order (beam search's n-best may repeat a text after decoding). */
function distinct(texts: readonly string[]): string[] {
  return [...new Set(texts.map((t) => t.trim()).filter((t) => t !== ""))];
}
