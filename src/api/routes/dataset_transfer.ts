// Dataset import and export (issue 11, admin): POST /v1/datasets/{name}/import takes a zip of an
// imagefolder or a datasets parquet file (multipart, streamed to a staged file under a random name),
// or {"hub": "org/name"}; what can be checked at once is checked here (dataset, body kind, size,
// a readable archive with something in it), then a dataset.import job does the rows. GET
// /v1/datasets/{name}/export streams the imagefolder layout as a tar.
import multipart, { type MultipartFile } from "@fastify/multipart";
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { ImportSourceError, openUpload, planNonEmptyImport } from "../../datasets/import.js";
import { exportImagefolder } from "../../datasets/export.js";
import { SPLITS, type Split } from "../../datasets/store.js";
import { HubError, type HubOptions, isRepoId, resolveCachedSnapshot } from "../../hub/index.js";
import { DATASET_IMPORT_JOB, type DatasetImportSource, enqueueJob, jobView, MAX_METADATA_BYTES } from "../../serving/jobs/index.js";
import { security } from "../plugins/auth.js";
import { ApiError, mapError } from "../plugins/errors.js";
import { errors, fileField, jobSchema } from "../schemas.js";

const datasetParams = { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1, maxLength: 64 } } } as const;
const splitSchema = { type: "string", enum: [...SPLITS], description: "the split of rows without a split column (default: the one their file name or folder names, else train)" } as const;
/** A git ref or commit as the hub's cache takes one: "/"-separated parts, none empty or starting with "."; no ".." anywhere. */
const REVISION = "^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$";
const REVISION_RULE = 'a branch, tag or commit: letters, digits, ".", "_", "-" in parts separated by "/", no part empty or starting with ".", no ".."';

const SOURCE_STATUS: Record<ImportSourceError["code"], number> = { unsupported_file: 415, invalid_archive: 400, invalid_parquet: 400, nothing_to_import: 400 };

interface HubBody {
  hub: string;
  revision?: string;
  split?: Split;
}

export async function datasetTransferRoutes(app: FastifyInstance): Promise<void> {
  const { config, datasets, queue, importStaging, hub } = app.services;
  const maxImportBytes = config.limits.maxImportBytes;
  await app.register(multipart, { limits: { fileSize: maxImportBytes, files: 1, fields: 4, parts: 5 } });
  app.setErrorHandler(async (error: unknown, request, reply) => {
    const { status, code, message, headers } = transferError(error, request, maxImportBytes);
    if (status >= 500 && code === "internal_error") request.log.error({ err: error }, "request failed");
    return reply.code(status).headers(headers ?? {}).send({ error: { code, message } });
  });

  app.post<{ Params: { name: string }; Body: HubBody | undefined }>(
    "/v1/datasets/:name/import",
    {
      onRequest: app.authorize("admin"),
      // A streamed multipart request has no parsed body; validation sees an empty one.
      preValidation: async (request) => {
        if (request.isMultipart()) request.body = {} as HubBody;
      },
      schema: {
        tags: ["datasets"],
        summary: "Import items from a zip of an imagefolder, a datasets parquet file or a hub dataset repo, as a job",
        description:
          `multipart/form-data with the file in field \`file\` (≤ ${maxImportBytes} bytes, maxImportBytes): a .zip of an imagefolder (metadata.jsonl or metadata.csv with ` +
          "`file_name` and `text`/`caption`/`captions`, split folders train/ validation/ test/ or a `split` column) or a Hugging Face `datasets` parquet file " +
          "(an `image` struct column with `bytes`; `text`, `caption` or a `captions` list; split from a `split` column or the file name); or JSON " +
          '`{"hub": "org/name", "revision"?}` for a dataset repo (parquet files or imagefolder layout) fetched through the HF cache. ' +
          "Answers 202 with the job: GET /v1/jobs/{id} shows its progress and its result (items added per split, entries skipped with their reasons). " +
          "Items with captions arrive reviewed (they are human data), items without unreviewed; an image already in the dataset is skipped.",
        security: security("admin"),
        params: datasetParams,
        body: {
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["hub"],
                additionalProperties: false,
                properties: {
                  hub: { type: "string", minLength: 3, maxLength: 96, description: "a Hugging Face dataset repo id, org/name" },
                  revision: { type: "string", maxLength: 200, pattern: REVISION, description: `${REVISION_RULE} (default main)` },
                  split: splitSchema,
                },
              },
            },
            // Streamed by the handler, which checks the parts: this schema documents them (the body is {} here).
            "multipart/form-data": { schema: { type: "object", properties: { file: fileField(false, "a .zip (or .tar) of an imagefolder, or a .parquet file"), split: splitSchema } } },
          },
        },
        response: { 202: jobSchema, ...errors(400, 401, 403, 404, 409, 413, 415, 503) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      datasets.requireDataset(name); // 404 before reading the body
      const { source, split } = request.isMultipart() ? await stagedUpload(request, app) : await hubSource(request.body, { hub, allowDownloads: config.allowDownloads });
      let job;
      try {
        job = await enqueueJob(queue, DATASET_IMPORT_JOB, { dataset: name, source, ...(split && { split }) });
      } catch (error) {
        if (source.kind === "upload") await importStaging.remove(source.staged);
        throw error;
      }
      return reply.code(202).header("location", `/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.get<{ Params: { name: string } }>(
    "/v1/datasets/:name/export",
    {
      onRequest: app.authorize("admin"),
      schema: {
        tags: ["datasets"],
        summary: "The dataset as a tar of the imagefolder layout, streamed",
        description:
          "train/, validation/, test/ (splits with items only), each with the images (named `<item id>.<ext>`) and a metadata.jsonl of " +
          '`{"file_name", "text" (first caption), "captions" (all), "reviewed"}`; `datasets.load_dataset("imagefolder")`, `captioner eval`/`train` and the import read it.',
        security: security("admin"),
        params: datasetParams,
        response: {
          200: { description: "a tar archive", content: { "application/x-tar": { schema: { type: "string", format: "binary" } } } },
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const stream = exportImagefolder(datasets, name);
      return reply.type("application/x-tar").header("content-disposition", `attachment; filename="${name}.tar"`).send(stream);
    },
  );
}

/** Streams the multipart file to a staged file, then checks it can be imported (else removes it and answers 4xx). */
async function stagedUpload(request: FastifyRequest, app: FastifyInstance): Promise<{ source: DatasetImportSource; split?: Split }> {
  const staging = app.services.importStaging;
  let staged: { id: string; fileName: string } | undefined;
  let split: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === "file") {
        if (part.fieldname !== "file" || staged) {
          part.file.resume();
          throw new ApiError(400, "invalid_multipart", `send exactly one file, in field "file" (got field ${JSON.stringify(part.fieldname)}): curl -F 'file=@pets.zip'`);
        }
        staged = { id: await staging.stage(part.file), fileName: (part as MultipartFile).filename ?? "" };
      } else if (part.fieldname === "split") {
        split = String(part.value);
      } else {
        throw new ApiError(400, "invalid_request", `unknown field ${JSON.stringify(part.fieldname)}; the fields are "file" and "split"`);
      }
    }
    if (!staged) throw new ApiError(400, "missing_file", "no file was sent; send the zip or parquet file in field \"file\": curl -F 'file=@pets.zip'");
    if (split !== undefined && !SPLITS.includes(split as Split)) throw new ApiError(400, "invalid_request", `split must be one of ${SPLITS.join(", ")}`);
    const tree = await openUpload(staging.file(staged.id), await staging.head(staged.id), staged.fileName);
    try {
      await planNonEmptyImport(tree, { maxMetadataBytes: MAX_METADATA_BYTES }, "the upload");
    } finally {
      await tree.close();
    }
    return { source: { kind: "upload", staged: staged.id, fileName: staged.fileName }, split: split as Split | undefined };
  } catch (error) {
    if (staged) await staging.remove(staged.id);
    throw error;
  }
}

/** A hub source: a valid repo id, and a repo that can be had (cached, or downloads allowed). */
async function hubSource(body: HubBody | undefined, deps: { hub?: HubOptions; allowDownloads: boolean }): Promise<{ source: DatasetImportSource; split?: Split }> {
  if (body === undefined || typeof body !== "object") {
    throw new ApiError(415, "unsupported_content_type", "send multipart/form-data with the file in field \"file\", or JSON {\"hub\": \"org/name\"}");
  }
  if (!isRepoId(body.hub)) throw new ApiError(400, "invalid_request", `"hub" must be a Hugging Face repo id like "org/name" (got ${JSON.stringify(body.hub)})`);
  if (!deps.allowDownloads && cachedSnapshot(body.hub, body.revision, deps.hub) === null) {
    throw new ApiError(409, "downloads_disabled", `dataset ${body.hub}@${body.revision ?? "main"} is not in the Hugging Face cache and this server may not download (allowDownloads is off)`);
  }
  return { source: { kind: "hub", repo: body.hub, ...(body.revision && { revision: body.revision }) }, split: body.split };
}

/** The cached snapshot of a dataset repo, or null; the hub's refusal of the caller's repo or revision is a 400. */
function cachedSnapshot(repo: string, revision: string | undefined, hub: HubOptions | undefined): string | null {
  try {
    return resolveCachedSnapshot(repo, revision, { ...hub, repoType: "dataset" });
  } catch (error) {
    if (error instanceof HubError) throw new ApiError(400, "invalid_request", error.message);
    throw error;
  }
}

/** The app's error mapping, plus the import's own: the upload limit, and files that cannot be imported. */
function transferError(error: unknown, request: FastifyRequest, maxImportBytes: number) {
  if (error instanceof ImportSourceError) return { status: SOURCE_STATUS[error.code], code: error.code, message: error.message };
  const code = (error as FastifyError).code;
  if (code === "FST_REQ_FILE_TOO_LARGE") {
    return { status: 413, code: "import_too_large", message: `the file is larger than ${maxImportBytes} bytes (maxImportBytes); split the dataset, or import it from the hub` };
  }
  if (code === "FST_FILES_LIMIT") return { status: 400, code: "invalid_multipart", message: 'send exactly one file, in field "file"' };
  const invalid = (error as FastifyError).validation?.[0];
  if (invalid?.instancePath === "/revision" && invalid.keyword === "pattern") return { status: 400, code: "invalid_request", message: `body.revision must be ${REVISION_RULE}` };
  return mapError(error, request);
}
