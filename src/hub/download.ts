// Hub client: downloads a model (or dataset) snapshot into the standard HF cache with huggingface_hub's protocol.
//   GET  {endpoint}/api/models/{repo}/revision/{rev}      → commit `sha` + `siblings[].rfilename`
//   HEAD {endpoint}/{repo}/resolve/{commit}/{file}        → ETag / X-Linked-Etag, size, CDN redirect
//   (dataset repos: /api/datasets/{repo}/revision/{rev} and {endpoint}/datasets/{repo}/resolve/…)
//   GET  <resolve URL or CDN URL> (+ Range: bytes=N-)     → the bytes, into blobs/<etag>.incomplete
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { copyFile, mkdir, open, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  DEFAULT_REVISION,
  HubError,
  type HubOptions,
  type HubSettings,
  isCommitHash,
  isRepoId,
  repoCacheDir,
  type RepoType,
  resolveCachedSnapshot,
  resolveHubSettings,
  resolveModelSource,
  validateRelativePath,
  validateRepoId,
  withBlobLock,
} from "./cache.js";

/** The hub could not be reached at all (as opposed to answering with an error). */
export class HubNetworkError extends HubError {
  override name = "HubNetworkError";
}

export interface DownloadOptions extends HubOptions {
  revision?: string;
  /** Picks the files to download from the repo's file list; default: what a captioning checkpoint needs. */
  files?: (siblings: string[]) => string[];
}

interface RepoRevisionInfo {
  commit: string;
  siblings: string[];
}

interface FileMetadata {
  etag: string;
  size: number | null;
  /** Where the bytes are: the resolve URL itself, or the CDN URL it redirects to. */
  location: string;
}

const METADATA_TIMEOUT_MS = 10_000; // huggingface_hub's HF_HUB_ETAG_TIMEOUT default
const READ_IDLE_TIMEOUT_MS = 30_000; // give up on a body that stalls this long
const MAX_ATTEMPTS_PER_FILE = 4; // an interrupted body is resumed with Range this many times
const RETRY_PAUSE_MS = 500;
const MAX_REDIRECTS = 10;
// A blob file name: no "/" and not "." or ".." (those would name the blobs folder or the repo folder).
const SAFE_ETAG = /^(?!\.+$)[A-Za-z0-9._-]{1,200}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The folder of a model source: a local folder as it is, else the cached snapshot of a hub repo id,
 * else (when `download`) a fresh download — `refresh` downloads even when cached, to pick up the
 * revision's current commit. `onDownload` is told before a download starts.
 */
export async function ensureModelFolder(
  source: string,
  opts: HubOptions & { revision?: string; download: boolean; refresh?: boolean; onDownload?: () => void },
): Promise<string> {
  if (existsSync(source) || !isRepoId(source) || !opts.download) return resolveModelSource(source, opts);
  if (!opts.refresh) {
    try {
      return resolveModelSource(source, opts);
    } catch {
      // not cached yet: download below
    }
  }
  opts.onDownload?.();
  return downloadModel(source, opts);
}

/**
 * Downloads the files a model needs from the hub into the HF cache and returns the snapshot folder
 * (`<cache>/models--org--name/snapshots/<commit>`). Files already in that snapshot are not requested
 * again. In offline mode no request is made: the cached snapshot is returned, or a HubError thrown.
 * When the hub cannot be reached, a cached snapshot of the revision is used instead.
 */
export async function downloadModel(repoId: string, opts: DownloadOptions = {}): Promise<string> {
  validateRepoId(repoId);
  const revision = opts.revision ?? DEFAULT_REVISION;
  validateRelativePath(revision, "revision");
  const settings = resolveHubSettings(opts);
  const repoType = opts.repoType ?? "model";
  if (settings.offline) {
    const cached = resolveCachedSnapshot(repoId, revision, { ...settings, repoType });
    if (cached !== null) return cached;
    throw new HubError(
      `offline mode is on (HF_HUB_OFFLINE) and ${repoId}@${revision} is not in the cache (${settings.cacheDir}); ` +
        `unset HF_HUB_OFFLINE and run \`npx captioner pull ${repoId}\` with network access`,
    );
  }

  const client = new HubClient(settings, opts.fetch ?? globalThis.fetch);
  let info: RepoRevisionInfo;
  try {
    info = await client.revisionInfo(repoId, revision, repoType);
  } catch (error) {
    // Like huggingface_hub: with the hub unreachable, a complete cached snapshot is good enough.
    const cached = error instanceof HubNetworkError ? resolveCachedSnapshot(repoId, revision, { ...settings, repoType }) : null;
    if (cached !== null) return cached;
    throw error;
  }

  let wanted: string[];
  try {
    wanted = (opts.files ?? checkpointFiles)(info.siblings);
  } catch (error) {
    if (error instanceof HubError) throw new HubError(`${repoId}@${revision}: ${error.message}`);
    throw error;
  }
  for (const file of wanted) {
    validateRelativePath(file, "repo file name");
    if (!info.siblings.includes(file)) throw new HubError(`${repoId}@${revision} has no file ${JSON.stringify(file)}`);
  }

  const repoDir = repoCacheDir(settings.cacheDir, repoId, repoType);
  const snapshot = path.join(repoDir, "snapshots", info.commit);
  for (const file of wanted) {
    const pointer = path.join(snapshot, file);
    if (existsSync(pointer)) continue; // same commit, same file: nothing can have changed
    const url = fileUrl(settings.endpoint, repoType, repoId, info.commit, file);
    await downloadFile({ client, repoId, repoType, repoDir, file, url, pointer, onProgress: opts.onProgress });
  }
  // The ref is written last, so a branch only resolves offline once its snapshot is complete.
  if (revision !== info.commit) await writeRef(repoDir, revision, info.commit);
  return snapshot;
}

/**
 * Downloads the data files of a dataset repo (see `datasetFiles`) into the HF cache
 * (`<cache>/datasets--org--name/snapshots/<commit>`) and returns the snapshot folder.
 */
export function downloadDataset(repoId: string, opts: Omit<DownloadOptions, "repoType"> = {}): Promise<string> {
  return downloadModel(repoId, { files: datasetFiles, ...opts, repoType: "dataset" });
}

// What a captioning dataset is made of: parquet files, imagefolder metadata and images.
const DATA_FILE = /(\.parquet|(^|\/)metadata\.jsonl|(^|\/)metadata\.csv|\.png|\.jpe?g|\.gif|\.webp)$/i;

/** Whether a repo file is one a dataset import reads ("data/train-0.parquet", "train/metadata.csv", "a.jpg"). */
export function isDatasetFile(file: string): boolean {
  return DATA_FILE.test(file);
}

/**
 * The files of a dataset repo an import reads: parquet files, `metadata.jsonl`/`metadata.csv` and
 * images (never the card, scripts or other files). `["README.md", "data/train-00000-of-00001.parquet"]` → the parquet file.
 */
export function datasetFiles(siblings: string[]): string[] {
  const files = siblings.filter(isDatasetFile);
  if (files.length === 0) throw new HubError("the dataset repo has no parquet files, metadata.jsonl/metadata.csv or images to import");
  return files;
}

// Weight formats in order of preference; TensorFlow (tf_model.h5) and Flax (*.msgpack) are never used.
const WEIGHT_FORMATS = [
  { single: "model.safetensors", index: "model.safetensors.index.json", shard: /^model-\d+-of-\d+\.safetensors$/ },
  { single: "pytorch_model.bin", index: "pytorch_model.bin.index.json", shard: /^pytorch_model-\d+-of-\d+\.bin$/ },
];
// Config, image processor and tokenizer files; whichever of them the repo has.
const SUPPORT_FILES = [
  "config.json",
  "generation_config.json",
  "preprocessor_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.txt",
  "added_tokens.json",
  // BLIP-2's byte-level BPE, for repos without tokenizer.json
  "vocab.json",
  "merges.txt",
];

/**
 * The files of a repo a captioning checkpoint needs: config, processor and tokenizer files that exist, plus one
 * weight format: `model.safetensors`, else its sharded index + shards, else `pytorch_model.bin` (or its
 * index + shards). Example: `["config.json", "model.safetensors", "tf_model.h5"]` → `["config.json", "model.safetensors"]`.
 */
export function checkpointFiles(siblings: string[]): string[] {
  const present = new Set(siblings);
  if (!present.has("config.json")) throw new HubError("the repo has no config.json, so it is not a transformers model");
  const support = SUPPORT_FILES.filter((f) => present.has(f));
  for (const format of WEIGHT_FORMATS) {
    if (present.has(format.single)) return [...support, format.single];
    if (present.has(format.index)) {
      const shards = siblings.filter((f) => format.shard.test(f)).sort();
      if (shards.length === 0) throw new HubError(`the repo has ${format.index} but none of its shards`);
      return [...support, format.index, ...shards];
    }
  }
  throw new HubError(
    "the repo has no PyTorch weights (model.safetensors, pytorch_model.bin or a sharded index of them); " +
      "TensorFlow/Flax-only repos are not supported",
  );
}

function fileUrl(endpoint: string, repoType: RepoType, repoId: string, commit: string, file: string): string {
  const repo = repoType === "dataset" ? `datasets/${repoId}` : repoId;
  return `${endpoint}/${repo}/resolve/${commit}/${file.split("/").map(encodeURIComponent).join("/")}`;
}

async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  const refPath = path.join(repoDir, "refs", revision);
  await mkdir(path.dirname(refPath), { recursive: true });
  const tmp = uniqueTempName(refPath);
  await writeFile(tmp, commit); // no trailing newline, as huggingface_hub writes it
  await rename(tmp, refPath);
}

/** One file of a snapshot to fetch: its resolve URL and where its snapshot pointer goes. */
interface FileJob {
  client: HubClient;
  repoId: string;
  repoType: RepoType;
  repoDir: string;
  file: string;
  url: string;
  pointer: string;
  onProgress: HubOptions["onProgress"];
}

/** Fetches one file into blobs/ (unless that blob is already there) and links it into the snapshot. */
async function downloadFile(job: FileJob): Promise<void> {
  const { client, repoId, repoType, repoDir, file, pointer } = job;
  const meta = await client.fileMetadata(job.url, file);
  const blob = path.join(repoDir, "blobs", meta.etag);
  if (!existsSync(blob)) {
    await withBlobLock(client.settings.cacheDir, repoId, meta.etag, async () => {
      if (existsSync(blob)) return; // another process finished it while we waited for the lock
      await mkdir(path.dirname(blob), { recursive: true });
      const incomplete = `${blob}.incomplete`;
      await fetchWithResume(job, meta, incomplete);
      await verifyBlob(incomplete, meta, file);
      await rename(incomplete, blob);
    }, repoType);
  }
  await linkIntoSnapshot(blob, pointer);
}

async function fetchWithResume(job: FileJob, meta: FileMetadata, incomplete: string): Promise<void> {
  await (await open(incomplete, "a")).close(); // exists from here on, even for an empty file
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchOnce(job, meta, incomplete);
      const have = await sizeOf(incomplete);
      if (meta.size === null || have >= meta.size) return;
      throw new HubNetworkError(`${job.file}: the connection closed after ${have} of ${meta.size} bytes`);
    } catch (error) {
      if (!(error instanceof HubNetworkError) || attempt >= MAX_ATTEMPTS_PER_FILE) throw error;
      // Transient: the bytes already in the .incomplete file are kept and the next attempt resumes,
      // at once after a cut connection, then with a growing pause for a struggling server.
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS * (attempt - 1)));
    }
  }
}

/** One GET of the file body, appended to the partial file (asking for the rest with Range). */
async function fetchOnce({ client, file, onProgress }: FileJob, meta: FileMetadata, incomplete: string): Promise<void> {
  let offset = await sizeOf(incomplete);
  if (meta.size !== null && offset > meta.size) offset = 0; // stale partial file from other content
  if (meta.size !== null && offset === meta.size) return;
  const res = await client.getBody(meta.location, offset, file);
  if (res.status === 416) {
    await rm(incomplete, { force: true }); // our partial file does not fit the remote one: start over
    throw new HubNetworkError(`${file}: the server refused to resume at byte ${offset}`);
  }
  if (offset > 0 && res.status === 206) {
    const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== offset) throw new HubError(`${file}: the server resumed at byte ${start ?? "?"} instead of ${offset}`);
  } else {
    offset = 0; // a plain 200 answer carries the whole file
  }
  const total = meta.size ?? contentLength(res.headers);
  const out = await open(incomplete, offset > 0 ? "a" : "w");
  let downloaded = offset;
  onProgress?.({ file, downloaded, total });
  try {
    for await (const chunk of client.readBody(res, file)) {
      await out.write(chunk);
      downloaded += chunk.byteLength;
      onProgress?.({ file, downloaded, total });
    }
  } finally {
    await out.close();
  }
}

/** Size always; sha256 too when the etag is an LFS sha256. A bad file is deleted, never linked. */
async function verifyBlob(incomplete: string, meta: FileMetadata, file: string): Promise<void> {
  const size = await sizeOf(incomplete);
  if (meta.size !== null && size !== meta.size) {
    await rm(incomplete, { force: true });
    throw new HubError(`${file}: downloaded ${size} bytes but the hub announced ${meta.size}; run the download again`);
  }
  if (!SHA256_HEX.test(meta.etag)) return;
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(incomplete)) hash.update(chunk as Buffer);
  const actual = hash.digest("hex");
  if (actual !== meta.etag) {
    await rm(incomplete, { force: true });
    throw new HubError(
      `${file}: sha256 mismatch (expected ${meta.etag}, got ${actual}); the corrupt download was deleted, run the download again`,
    );
  }
}

async function linkIntoSnapshot(blob: string, pointer: string): Promise<void> {
  await mkdir(path.dirname(pointer), { recursive: true });
  // Made beside the pointer and renamed over it: atomic, and a stale or dangling pointer is replaced.
  const tmp = uniqueTempName(pointer);
  try {
    await symlink(path.relative(path.dirname(pointer), blob), tmp);
  } catch (error) {
    // Filesystems without symlinks (e.g. Windows without developer mode): keep a copy instead.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
    await copyFile(blob, tmp);
  }
  await rename(tmp, pointer);
}

function uniqueTempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

async function sizeOf(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

function contentLength(headers: Headers): number | null {
  const value = headers.get("content-length");
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/** Strips the weak marker and quotes of an ETag header (`W/"abc"` → `abc`). */
function normalizeEtag(value: string | null): string | null {
  if (value === null) return null;
  return value.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1") || null;
}

/** HTTP with the hub's conventions: bearer token to the hub host only, clear errors, timeouts. */
class HubClient {
  private readonly hubHost: string;

  constructor(
    readonly settings: HubSettings,
    private readonly fetchImpl: typeof fetch,
  ) {
    this.hubHost = new URL(settings.endpoint).host;
  }

  /** The commit a revision points to and the repo's file list at that commit. */
  async revisionInfo(repoId: string, revision: string, repoType: RepoType): Promise<RepoRevisionInfo> {
    const url = `${this.settings.endpoint}/api/${repoType}s/${repoId}/revision/${encodeURIComponent(revision)}`;
    const res = await this.request(url, { method: "GET", redirect: "follow" }, METADATA_TIMEOUT_MS);
    if (!res.ok) throw httpError(res, `${repoId}@${revision}`, this.settings.token !== null);
    const body = (await res.json().catch(() => null)) as { sha?: unknown; siblings?: unknown } | null;
    const commit = body?.sha;
    const siblings = Array.isArray(body?.siblings) ? body.siblings.map((s: { rfilename?: unknown }) => s?.rfilename) : null;
    if (typeof commit !== "string" || !isCommitHash(commit) || siblings === null || !siblings.every((s) => typeof s === "string")) {
      throw new HubError(`${url} did not answer with a commit "sha" and "siblings"; is HF_ENDPOINT a Hugging Face hub?`);
    }
    return { commit, siblings: siblings as string[] };
  }

  /** HEAD of a resolve URL: etag, size and the CDN location (not followed, as huggingface_hub does). */
  async fileMetadata(url: string, file: string): Promise<FileMetadata> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.request(current, { method: "HEAD", redirect: "manual" }, METADATA_TIMEOUT_MS);
      const location = res.headers.get("location");
      const next = isRedirect(res.status) && location !== null ? new URL(location, current) : null;
      if (next !== null && next.host === new URL(current).host) {
        current = next.href; // same host: a renamed repo, keep asking the hub
        continue;
      }
      if (next === null && !res.ok) throw httpError(res, file, this.settings.token !== null);
      const etag = normalizeEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
      if (etag === null || !SAFE_ETAG.test(etag)) {
        throw new HubError(`${file}: the hub sent no usable ETag (${JSON.stringify(etag)}); cannot name the cached blob`);
      }
      const size = res.headers.get("x-linked-size") ?? res.headers.get("content-length");
      return { etag, size: size !== null && /^\d+$/.test(size) ? Number(size) : null, location: next?.href ?? current };
    }
    throw new HubError(`${file}: too many redirects from ${url}`);
  }

  /** GET of a file body from `offset`, following redirects; the token never leaves the hub host. */
  async getBody(url: string, offset: number, file: string): Promise<Response> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await this.request(current, { method: "GET", redirect: "manual", headers }, METADATA_TIMEOUT_MS);
      const location = res.headers.get("location");
      if (isRedirect(res.status) && location !== null) {
        await res.body?.cancel();
        current = new URL(location, current).href;
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        await res.body?.cancel();
        throw new HubNetworkError(`${file}: the server answered HTTP ${res.status}`); // worth a retry
      }
      if (!res.ok && res.status !== 416) throw httpError(res, file, this.settings.token !== null);
      return res;
    }
    throw new HubError(`${file}: too many redirects from ${url}`);
  }

  /** The body's chunks; a stall or a cut connection becomes a (resumable) HubNetworkError. */
  async *readBody(res: Response, file: string): AsyncGenerator<Uint8Array> {
    if (res.body === null) return;
    const reader = res.body.getReader();
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const stalled = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HubNetworkError(`${file}: no data for ${READ_IDLE_TIMEOUT_MS / 1000} s`)), READ_IDLE_TIMEOUT_MS);
        });
        const step = await Promise.race([reader.read(), stalled])
          .catch((error: unknown) => {
            if (error instanceof HubError) throw error;
            throw new HubNetworkError(`${file}: the download was interrupted (${describe(error)})`);
          })
          .finally(() => clearTimeout(timer));
        if (step.done) return;
        yield step.value;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  private async request(url: string, init: Omit<RequestInit, "headers"> & { headers?: Record<string, string> }, timeoutMs: number): Promise<Response> {
    const headers: Record<string, string> = { "accept-encoding": "identity", "user-agent": "captioner", ...init.headers };
    // huggingface_hub sends the token to the hub only; a CDN URL is pre-signed.
    if (this.settings.token !== null && new URL(url).host === this.hubHost) headers.authorization = `Bearer ${this.settings.token}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await this.fetchImpl(url, { ...init, headers, signal: controller.signal });
    } catch (error) {
      throw new HubNetworkError(
        `cannot reach ${new URL(url).origin} (${describe(error)}); check the network and HF_ENDPOINT, ` +
          `or set HF_HUB_OFFLINE=1 to use only the local cache`,
      );
    } finally {
      clearTimeout(timer); // only the wait for the headers is bounded here; readBody bounds the body
    }
  }
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}

/** The hub's HTTP errors as messages that say what to do. */
function httpError(res: Response, what: string, sentToken: boolean): HubError {
  const code = res.headers.get("x-error-code");
  switch (res.status) {
    case 401:
    case 403: {
      const hint = sentToken
        ? "the token in HF_TOKEN (or $HF_HOME/token) has no access: accept the model's terms on its hub page or use another token"
        : "set HF_TOKEN to a Hugging Face access token that can read it";
      return new HubError(`${what}: HTTP ${res.status}, the repo is gated or private (or does not exist); ${hint}`);
    }
    case 404: {
      const kind =
        code === "RepoNotFound" ? "no such repo" :
        code === "RevisionNotFound" ? "no such revision" :
        code === "EntryNotFound" ? "no such file" : "no such repo/file/revision";
      return new HubError(`${what}: HTTP 404, ${kind}; check the repo id, --revision and file name on the hub`);
    }
    default:
      return new HubError(`${what}: the hub answered HTTP ${res.status} ${res.statusText}; try again later`);
  }
}
