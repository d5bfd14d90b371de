// Eval jobs (issue 11): the evaluation of `captioner eval` (src/eval) run on a stored dataset's split —
// images from the store, references = each item's captions (reviewed ones by default) — with the
// HTML report written next to the data and served to admins.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Split } from "../../datasets/store.js";
import { type CaptionsImages, evaluate } from "../../eval/evaluate.js";
import { buildReport } from "../../eval/report.js";
import type { CaptionOptions } from "../../generation/captioner.js";
import { toKwargs } from "../../generation/options.js";
import { type CaptionService, checkModelOptions, InputError } from "../caption_service.js";
import type { JobContext } from "../queue/types.js";
import { whenRoom } from "./caption.js";
import { allItems, anyItem, type DatasetJobDeps, reportProgress } from "./datasets.js";
import type { JobHandlerSpec } from "./handlers.js";
import { EVAL_JOB, type EvalJobPayload, type EvalJobResult, type EvalTarget } from "./kinds.js";

/** The splits an eval request without one falls back to, in order. */
const DEFAULT_SPLITS: readonly Split[] = ["validation", "test"];

/** A captioner for an eval target, its name in the report, and what to do when the evaluation is over. */
export interface OpenedTarget {
  label: string;
  captioner: CaptionsImages;
  release(): Promise<void>;
}

/** How eval targets become captioners: configured models today; model versions plug in here. */
export interface EvalTargets {
  /** Refuses, before queuing, a target this server cannot evaluate (UnknownModelError: 404) or options it refuses (400). */
  check(target: EvalTarget, options: CaptionOptions): Promise<void>;
  open(target: EvalTarget, ctx: JobContext): Promise<OpenedTarget>;
}

/** Configured models, through the caption service: the batcher in-process, the workers with --redis. */
export function servedModels(deps: Pick<DatasetJobDeps, "captions" | "registry" | "limits">): EvalTargets {
  return {
    check: (target, options) => checkModelOptions(deps.registry, target.model, options, deps.limits),
    open: async (target, ctx) => ({ label: target.model, captioner: servedCaptioner(deps.captions, target.model, ctx), release: async () => {} }),
  };
}

function servedCaptioner(captions: CaptionService, model: string, ctx: JobContext): CaptionsImages {
  return { caption: (images, options = {}) => whenRoom(() => captions.caption(model, images, options, { background: ctx.signal }), ctx) };
}

/** An eval request before its split is chosen. */
export type EvalRequest = Omit<EvalJobPayload, "split"> & { split?: Split };

/**
 * Checks an eval request before it is queued and chooses its split (validation, else test): unknown
 * dataset or target 404; bad options, or a split without (reviewed) captioned items, 400.
 */
export async function checkEval(deps: DatasetJobDeps, targets: EvalTargets, request: EvalRequest): Promise<EvalJobPayload> {
  deps.datasets.requireDataset(request.dataset);
  await targets.check(request.target, request.options);
  const has = (split: Split) => anyItem(deps.datasets, request.dataset, evalSelection(split, request.reviewedOnly));
  const split = request.split ?? DEFAULT_SPLITS.find(has);
  if (split === undefined || !has(split)) {
    const which = request.split === undefined ? `neither split ${DEFAULT_SPLITS.map((s) => `"${s}"`).join(" nor ")}` : `split "${request.split}"`;
    const what = request.reviewedOnly ? "items with reviewed captions" : "items with captions";
    const fix = request.reviewedOnly
      ? `review its captions (POST /v1/datasets/${request.dataset}/items/{id}/review) or set "reviewed_only": false`
      : `add captioned items or draft captions (POST /v1/admin/jobs/draft)`;
    throw new InputError(400, "nothing_to_evaluate", `${which} of dataset "${request.dataset}" has ${what}; ${fix}${request.split === undefined ? ", or name a split" : ""}`);
  }
  return { ...request, split };
}

/** The items an evaluation scores: captioned ones (their captions are the references), reviewed unless told otherwise. */
const evalSelection = (split: Split, reviewedOnly: boolean) => ({ split, captioned: true, ...(reviewedOnly ? { reviewed: true } : {}) });

export function evalJobs(deps: DatasetJobDeps, targets: EvalTargets): JobHandlerSpec<typeof EVAL_JOB> {
  return {
    kind: EVAL_JOB,
    handle: async (job, ctx) => {
      const { dataset, split, target, options, reviewedOnly } = job.payload;
      const items = allItems(deps.datasets, dataset, evalSelection(split, reviewedOnly));
      if (items.length === 0) throw new Error(`split "${split}" of dataset "${dataset}" has no ${reviewedOnly ? "reviewed " : ""}captioned items any more`);
      const inputs = items.map((item) => ({ id: item.id, file: deps.datasets.imageFile(item.imageSha256), references: item.captions }));
      const opened = await targets.open(target, ctx);
      let result;
      try {
        result = await evaluate(opened.captioner, inputs, {
          batchSize: Math.min(deps.limits.batchSize, deps.limits.maxImagesPerRequest),
          caption: options,
          skipMissing: true, // an item deleted while the job runs is left out, not a failure
          onProgress: (p) => {
            if (ctx.signal.aborted) throw new Error("the job was cancelled");
            void reportProgress(ctx, p.done, p.total).catch(() => {});
          },
        });
      } finally {
        await opened.release();
      }
      const settings = { split, reviewed_only: reviewedOnly, job: job.id, ...(toKwargs(options) as Record<string, string | number | boolean>) };
      const files = new Map(inputs.map((input) => [input.id, input.file]));
      const html = await buildReport(result, { model: opened.label, dataset, settings }, result.items.map((item) => files.get(item.id)!));
      await writeReport(deps.reportsDir, job.id, html);
      return { dataset, split, model: opened.label, reviewed_only: reviewedOnly, ...result, report: reportUrl(job.id) };
    },
  };
}

/** Where GET serves an eval job's report. */
export const reportUrl = (jobId: string) => `/v1/admin/jobs/${jobId}/report`;

/** The report file of an eval job: `<reportsDir>/<job id>.html` (ids are generated, but never trusted as a path). */
export function reportFile(reportsDir: string, jobId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(jobId)) throw new Error(`not a job id: ${JSON.stringify(jobId)}`);
  return path.join(reportsDir, `${jobId}.html`);
}

/** Written whole or not at all: a temporary file renamed into place. */
async function writeReport(reportsDir: string, jobId: string, html: string): Promise<void> {
  const file = reportFile(reportsDir, jobId);
  await fs.mkdir(reportsDir, { recursive: true });
  await fs.writeFile(`${file}.part`, html);
  await fs.rename(`${file}.part`, file);
}
