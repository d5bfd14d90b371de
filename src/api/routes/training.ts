// Fine-tuning in the service (issue 11), admin only: POST /v1/admin/jobs/train queues a train job on
// a stored dataset; GET /v1/admin/models/{name}/versions lists what train jobs made for a model name;
// POST /v1/admin/models/{name}/promote puts a version in service through the gate (serving/promotion.ts).
import type { FastifyInstance } from "fastify";
import { DATASET_NAME_PATTERN } from "../../datasets/store.js";
import { enqueueJob, jobView, TRAIN_JOB } from "../../serving/jobs/index.js";
import { PromotionError, type PromotionResult } from "../../serving/promotion.js";
import { UnknownModelError } from "../../serving/registry.js";
import { snapshotItems, snapshotProblem } from "../../serving/snapshot.js";
import { type ModelVersion, newVersionId, VERSION_ID_PATTERN } from "../../serving/versions.js";
import { trainingBackendFor } from "../../training/backends.js";
import { defaultSettings, type FlagKind, TRAINING_SETTINGS, type TrainingSettings } from "../../training/options.js";
import { TrainingSetupError } from "../../training/train.js";
import { security } from "../plugins/auth.js";
import { ApiError } from "../plugins/errors.js";
import { errors, errorSchema, jobSchema } from "../schemas.js";

/** A training setting's name in the API: the table's key in snake_case (batchSize → batch_size). */
const apiName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The settings a train job accepts: every row of the table that declares its kind. */
const API_SETTINGS = (Object.keys(TRAINING_SETTINGS) as (keyof TrainingSettings)[]).filter((key) => TRAINING_SETTINGS[key].kind !== undefined);

function kindSchema(kind: FlagKind): Record<string, unknown> {
  if (kind.type === "switch") return { type: "boolean" };
  if (kind.type === "int") return { type: "integer", minimum: kind.min };
  return { type: "number", ...(kind.above ? { exclusiveMinimum: kind.min } : { minimum: kind.min }), ...(Number.isFinite(kind.max) ? { maximum: kind.max } : {}) };
}

const settingsSchema = {
  type: "object",
  additionalProperties: false,
  description: "training settings (the table of `captioner train`, in snake_case); unset ones take their defaults",
  properties: Object.fromEntries(
    API_SETTINGS.map((key) => {
      const s = TRAINING_SETTINGS[key];
      return [apiName(key), { ...kindSchema(s.kind!), description: `${s.help} (default ${s.default === null ? "none" : String(s.default)})` }];
    }),
  ),
} as const;

const scoresSchema = { type: "object", additionalProperties: { type: "number" }, description: "COCO metric names: Bleu_1..4, METEOR, ROUGE_L, CIDEr (CIDEr-D)" } as const;

const versionSchema = {
  type: "object",
  required: ["id", "model", "base", "dataset", "snapshot", "settings", "validation", "latency", "jobId", "createdAt", "promotedAt", "serving"],
  properties: {
    id: { type: "string" },
    model: { type: "string", description: "the configured model name it belongs to" },
    base: { type: "object", required: ["model", "version"], properties: { model: { type: "string" }, version: { type: ["string", "null"], description: "null: the model name's configured source" } } },
    dataset: { type: "string" },
    snapshot: {
      type: "object",
      required: ["sha256", "trainItems", "validationItems", "reviewedOnly"],
      description: "the dataset items it was trained and validated on (the item list with captions is snapshot/snapshot.json in its folder)",
      properties: { sha256: { type: "string" }, trainItems: { type: "integer" }, validationItems: { type: "integer" }, reviewedOnly: { type: "boolean" } },
    },
    settings: { type: "object", additionalProperties: true, description: "every training setting, snake_case" },
    validation: {
      type: "object",
      required: ["before", "after", "epochs", "bestEpoch", "trainLoss", "steps"],
      properties: {
        before: { ...scoresSchema, description: "the base model on this validation split" },
        after: { ...scoresSchema, description: "this version (the best epoch)" },
        epochs: { type: "array", items: scoresSchema },
        bestEpoch: { type: "integer" },
        trainLoss: { type: "array", items: { type: "number" } },
        steps: { type: "integer" },
      },
    },
    latency: {
      type: "object",
      required: ["candidateMs", "servingMs", "servingVersion", "images", "runs", "measuredAt"],
      description: "greedy caption latency of one batch of validation images: this version and the model serving when it was measured, back to back",
      properties: {
        candidateMs: { type: "number" },
        servingMs: { type: "number" },
        servingVersion: { type: ["string", "null"] },
        images: { type: "integer" },
        runs: { type: "integer" },
        measuredAt: { type: "string" },
      },
    },
    baselines: { type: "object", additionalProperties: { type: "number" }, description: "validation CIDEr-D of other models on this split, by version id (`source`: the configured source)" },
    jobId: { type: "string" },
    createdAt: { type: "string" },
    promotedAt: { type: ["string", "null"], description: "when it was last promoted" },
    overrideReason: { type: ["string", "null"], description: "the admin's reason for promoting it past the gate" },
    overriddenReasons: { type: ["array", "null"], items: { type: "string" }, description: "the gate's reasons the override went past" },
    serving: { type: "boolean", description: "it is what the model name serves now" },
  },
} as const;

const gateSchema = {
  type: ["object", "null"],
  description: "the gate's numbers (null when the version was already serving)",
  properties: {
    passed: { type: "boolean" },
    reasons: { type: "array", items: { type: "string" } },
    servingVersion: { type: ["string", "null"] },
    cider: { type: "object", properties: { candidate: { type: "number" }, serving: { type: "number" } } },
    latency: { type: "object", properties: { candidateMs: { type: "number" }, servingMs: { type: "number" }, limitMs: { type: "number" } } },
  },
} as const;

/** The 409 of the gate: the one error shape plus the list of reasons. */
const gateRefusalSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { ...errorSchema.properties.error.properties, reasons: { type: "array", items: { type: "string" }, description: "each rule of the gate the version broke (gate_refused only)" } },
    },
  },
} as const;

const modelParams = { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1, maxLength: 64 } } } as const;

interface TrainBody {
  dataset: string;
  model: string;
  settings?: Record<string, number | boolean>;
  reviewed_only: boolean;
}

export async function trainingRoutes(app: FastifyInstance): Promise<void> {
  const { queue, registry, datasets, versions, promotions, captions } = app.services;

  const view = (v: ModelVersion, servingId: string | null) => ({
    ...v,
    settings: Object.fromEntries(Object.entries(v.settings).map(([k, value]) => [apiName(k), value])),
    serving: v.id === servingId,
  });

  app.post<{ Body: TrainBody }>(
    "/v1/admin/jobs/train",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin"],
        summary: "Fine-tune a model on a stored dataset, as a queued job that ends with a new model version",
        description:
          "The job snapshots the dataset's train and validation items (reviewed ones only unless `reviewed_only` is false; items without captions never), " +
          "trains, and records a version with its validation scores and caption latency. GET /v1/jobs/{id} shows `details`: phase, epoch, step, loss, " +
          "validation scores per epoch; POST /v1/jobs/{id}/cancel stops it. A job interrupted by a restart resumes from its last saved state.",
        security: security("admin"),
        body: {
          type: "object",
          required: ["dataset", "model"],
          additionalProperties: false,
          properties: {
            dataset: { type: "string", pattern: DATASET_NAME_PATTERN, description: "a stored dataset (GET /v1/datasets)" },
            model: { type: "string", minLength: 1, maxLength: 64, description: "the base: a configured model name (what it serves now: its source or its promoted version) or a version id" },
            settings: settingsSchema,
            reviewed_only: { type: "boolean", default: true, description: "train and validate on reviewed items only" },
          },
        },
        response: { 202: jobSchema, ...errors(400, 401, 403, 404, 409, 415, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      datasets.requireDataset(body.dataset);
      const base = baseOf(body.model);
      const problem = snapshotProblem(snapshotItems(datasets, body.dataset, body.reviewed_only), body.dataset, body.reviewed_only);
      if (problem) throw new ApiError(400, "not_enough_items", problem);
      const folder = base.version ? versions.modelFolder(base.model, base.version) : await registry.sourceFolder(base.model).catch(() => null);
      if (folder === null) throw new ApiError(409, "model_not_available", `model "${base.model}" is not in the Hugging Face cache yet; wait until it is loaded (GET /readyz)`);
      try {
        trainingBackendFor(folder);
      } catch (error) {
        if (error instanceof TrainingSetupError) throw new ApiError(400, "model_not_trainable", error.message);
        throw error;
      }
      const settings = defaultSettings();
      for (const key of API_SETTINGS) {
        const value = body.settings?.[apiName(key)];
        if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
      }
      const job = await enqueueJob(queue, TRAIN_JOB, { dataset: body.dataset, model: base.model, base, version: newVersionId(), settings, reviewedOnly: body.reviewed_only });
      return reply.code(202).header("location", `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  /** A configured name (based on what it serves now) or a version id of a configured name. */
  function baseOf(model: string): { model: string; version: string | null } {
    if (registry.has(model)) return { model, version: versions.serving(model)?.id ?? null };
    const version = new RegExp(VERSION_ID_PATTERN).test(model) ? versions.get(model) : null;
    if (version && registry.has(version.model)) return { model: version.model, version: version.id };
    throw new ApiError(404, "unknown_model", `"${model}" is neither a configured model (${registry.names().join(", ")}) nor one of their versions (GET /v1/admin/models/{name}/versions)`);
  }

  app.get<{ Params: { name: string } }>(
    "/v1/admin/models/:name/versions",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin"],
        summary: "A model name's versions (newest first) with their validation scores and latency, and which one it serves",
        security: security("admin"),
        params: modelParams,
        response: {
          200: {
            type: "object",
            required: ["model", "serving", "versions"],
            properties: { model: { type: "string" }, serving: { type: ["string", "null"], description: "the version it serves (null: its configured source)" }, versions: { type: "array", items: versionSchema } },
          },
          ...errors(401, 403, 404),
        },
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!registry.has(name)) throw new UnknownModelError(name, registry.names());
      const serving = versions.serving(name)?.id ?? null;
      return { model: name, serving, versions: versions.list(name).map((v) => view(v, serving)) };
    },
  );

  app.post<{ Params: { name: string }; Body: { version: string; override_reason?: string } }>(
    "/v1/admin/models/:name/promote",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["admin"],
        summary: "Serve a version under its model name, if it passes the gate (or with an override reason)",
        description:
          "The gate: the version's validation CIDEr-D must be above the serving model's on the version's validation split (scored now if not known yet), " +
          "and its greedy caption latency within 5 % of the serving model's (same images, same batch). Otherwise 409 with `reasons`, unless " +
          "`override_reason` is given (it is recorded). The swap is hot: requests in flight finish on the old model. A restart keeps serving the promoted version.",
        security: security("admin"),
        params: modelParams,
        body: {
          type: "object",
          required: ["version"],
          additionalProperties: false,
          properties: {
            version: { type: "string", minLength: 1, maxLength: 64 },
            override_reason: { type: "string", minLength: 1, maxLength: 2000, description: "promote even if the gate refuses; recorded with the version" },
          },
        },
        response: {
          200: {
            type: "object",
            required: ["model", "version", "previous", "unchanged", "gate"],
            properties: {
              model: { type: "string" },
              version: versionSchema,
              previous: { type: ["string", "null"], description: "what served before (null: the configured source)" },
              unchanged: { type: "boolean", description: "the version was already serving" },
              gate: gateSchema,
            },
          },
          409: gateRefusalSchema,
          ...errors(400, 401, 403, 404, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!registry.has(name)) throw new UnknownModelError(name, registry.names());
      if (captions.mode === "remote") throw new ApiError(409, "models_on_workers", `in --redis mode the workers load the models; promotion of "${name}" is not available there yet`);
      let result: PromotionResult;
      try {
        result = await promotions.promote(name, request.body.version, request.body.override_reason);
      } catch (error) {
        if (!(error instanceof PromotionError)) throw error;
        if (error.kind === "unknown_version") throw new ApiError(404, "unknown_version", error.message);
        if (error.kind === "version_load_failed") throw new ApiError(503, error.kind, error.message);
        return reply.code(409).send({ error: { code: error.kind, message: error.message, ...(error.reasons.length ? { reasons: error.reasons } : {}) } });
      }
      return { model: name, version: view(result.version, result.version.id), previous: result.previous, unchanged: result.unchanged, gate: result.gate };
    },
  );
}
