// Admin jobs over stored datasets (issue 11): POST /v1/admin/jobs/draft captions a dataset's items as
// unreviewed drafts, POST /v1/admin/jobs/eval evaluates a model on a split; both answer 202 with the
// job (GET /v1/jobs/{id}: progress, result). GET /v1/admin/jobs/{id}/report serves an eval's HTML report.
// The checks and the work live in serving/jobs (draft.ts, eval.ts); these handlers translate.
import * as fs from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { SPLITS, type Split } from "../../datasets/store.js";
import { checkDraft, checkEval, DRAFT_JOB, enqueueJob, EVAL_JOB, jobView, reportFile } from "../../serving/jobs/index.js";
import { datasetJobs } from "../services.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { type ApiCaptionOptions, captionOptionProperties, errors, jobSchema } from "../schemas.js";
import { captionOptions } from "./input.js";

interface DraftBody {
  dataset: string;
  model?: string;
  split?: Split;
  overwrite: boolean;
  options?: ApiCaptionOptions;
  style?: string;
}

interface EvalBody {
  dataset: string;
  model?: string;
  split?: Split;
  reviewed_only: boolean;
  options?: ApiCaptionOptions;
}

export async function datasetJobRoutes(app: FastifyInstance): Promise<void> {
  const { config, queue, defaultModel, restyler } = app.services;
  const { deps, targets } = datasetJobs(app.services);
  const datasetField = { type: "string", minLength: 1, maxLength: 64, description: "a stored dataset (GET /v1/datasets)" } as const;
  const modelField = { type: "string", minLength: 1, maxLength: 64, description: `a configured model name (GET /v1/models); default \`${defaultModel}\`` } as const;
  const optionsField = { type: "object", additionalProperties: false, properties: captionOptionProperties(config.limits), description: "generation options, as for POST /v1/captions" } as const;

  app.post<{ Body: DraftBody }>(
    "/v1/admin/jobs/draft",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin", "datasets"],
        summary: "Draft captions for a dataset's items with a model, as a queued job",
        description:
          "Captions the items (of `split`, else every split) that have no captions, a batch at a time, and stores each draft as the item's captions with `reviewed: false`; " +
          "`overwrite: true` redrafts captioned items too, replacing their captions. Items deleted or captioned meanwhile are skipped. " +
          "Poll GET /v1/jobs/{id}: progress, then `drafted`, `skipped`, `failed`. Reviewers then list `?reviewed=false&captioned=true` and accept, edit or reject each.",
        security: security("admin"),
        body: {
          type: "object",
          required: ["dataset"],
          additionalProperties: false,
          properties: {
            dataset: datasetField,
            model: modelField,
            split: { type: "string", enum: [...SPLITS], description: "only this split (default: every split)" },
            overwrite: { type: "boolean", default: false, description: "also redraft items that have captions (their captions are replaced)" },
            options: optionsField,
            style: { type: "string", description: `draft the description in this configured style instead of the plain caption: ${restyler.styles.join(", ")} (through the configured LLM; its fallback when there is none)` },
          },
        },
        response: { 202: jobSchema, ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const draft = { dataset: body.dataset, model: body.model ?? defaultModel, split: body.split, overwrite: body.overwrite, options: captionOptions(body.options ?? {}), style: body.style };
      await checkDraft(deps, draft);
      const job = await enqueueJob(queue, DRAFT_JOB, draft);
      return reply.code(202).header("location", `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.post<{ Body: EvalBody }>(
    "/v1/admin/jobs/eval",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin", "datasets"],
        summary: "Evaluate a model on a dataset split, as a queued job",
        description:
          "Captions the split's captioned items (reviewed ones unless `reviewed_only: false`) and scores the captions against the items' captions, as `captioner eval` does: " +
          "BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, WER/CER, rouge_score, per-item results. The result's `report` is the HTML report's URL.",
        security: security("admin"),
        body: {
          type: "object",
          required: ["dataset"],
          additionalProperties: false,
          properties: {
            dataset: datasetField,
            model: { ...modelField, description: `${modelField.description}, or a model version id (GET /v1/admin/models/{name}/versions)` },
            split: { type: "string", enum: [...SPLITS], description: "default: validation, else test" },
            reviewed_only: { type: "boolean", default: true, description: "score only items whose captions a reviewer accepted" },
            options: optionsField,
          },
        },
        response: { 202: jobSchema, ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const target = { model: body.model ?? defaultModel };
      const payload = await checkEval(deps, targets, { dataset: body.dataset, split: body.split, target, options: captionOptions(body.options ?? {}), reviewedOnly: body.reviewed_only });
      const job = await enqueueJob(queue, EVAL_JOB, payload);
      return reply.code(202).header("location", `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/admin/jobs/:id/report",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin"],
        summary: "An eval job's HTML report (metrics, per-item table with thumbnails, CIDEr-D histogram)",
        security: security("admin"),
        params: { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 200 } } },
        response: {
          200: { description: "a self-contained HTML page", content: { "text/html": { schema: { type: "string" } } } },
          ...errors(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const job = await queue.get(id);
      if (job === null || job.kind !== EVAL_JOB) throw new ApiError(404, "job_not_found", `no eval job ${id}; eval job ids come from POST /v1/admin/jobs/eval`);
      if (job.state !== "done") {
        const why = job.state === "failed" ? `it failed (${job.error}), so it has no report` : job.state === "cancelled" ? "it was cancelled, so it has no report" : `it is ${job.state} (${Math.round(job.progress * 100)} %); the report is ready when it is done`;
        throw new ApiError(409, "report_not_ready", `eval job ${id}: ${why}`);
      }
      const html = await fs.readFile(reportFile(deps.reportsDir, id)).catch(() => {
        throw new ApiError(404, "report_missing", `the report of eval job ${id} is missing from this server's data dir (reports/): deleted, or written by another API node; run the evaluation again`);
      });
      return reply.type("text/html; charset=utf-8").header("x-content-type-options", "nosniff").send(html);
    },
  );
}
