// The standard Hugging Face cache, shared with Python's huggingface_hub/transformers:
//   <cache>/models--{org}--{name}/blobs/<etag>             file contents, named by their hub etag
//   <cache>/models--{org}--{name}/snapshots/<commit>/<file> relative symlinks into blobs/
//   <cache>/models--{org}--{name}/refs/<revision>           the commit a branch/tag pointed to
// This module only reads settings and resolves paths; it never touches the network.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";

/** Any hub failure (bad id, not cached, HTTP error, corrupt download); the message says what to do. */
export class HubError extends Error {
  override name = "HubError";
}

/** Options shared by every hub function; unset fields fall back to the HF_* environment variables. */
export interface HubOptions {
  /** Model repos (default) or dataset repos: their own API paths, URLs and cache folders (`datasets--org--name`). */
  repoType?: RepoType;
  endpoint?: string;
  cacheDir?: string;
  token?: string | null;
  offline?: boolean;
  fetch?: typeof fetch;
  onProgress?: (p: { file: string; downloaded: number; total: number | null }) => void;
}

export type RepoType = "model" | "dataset";

export type HubSettings = Required<Pick<HubOptions, "endpoint" | "cacheDir" | "offline">> & { token: string | null };

export const DEFAULT_ENDPOINT = "https://huggingface.co";
export const DEFAULT_REVISION = "main";

const COMMIT_HASH = /^[0-9a-f]{40}$/;
// huggingface_hub's rule: letters, digits, "-", "_", "."; each part starts and ends with a letter,
// digit or "_"; "--" and ".." are forbidden (they would clash with the models--org--name folder scheme).
const REPO_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const MAX_REPO_ID_LENGTH = 96;

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["1", "ON", "YES", "TRUE"].includes(value.trim().toUpperCase());
}

function expandHome(p: string, home: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(home, p.slice(1)) : p;
}

/**
 * Hub settings from the environment, as huggingface_hub reads them: `HF_HOME` (else
 * `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`), `HF_HUB_CACHE` (legacy
 * `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`), `HF_HUB_OFFLINE` (1/true/yes/on), `HF_ENDPOINT`,
 * `HF_TOKEN` (else the token file `$HF_HOME/token`).
 */
export function hubSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const nonEmpty = (v: string | undefined) => (v !== undefined && v.trim() !== "" ? v.trim() : undefined);
  const home = nonEmpty(env.HOME) ?? homedir();
  const xdgCache = nonEmpty(env.XDG_CACHE_HOME) ?? path.join(home, ".cache");
  const hfHome = expandHome(nonEmpty(env.HF_HOME) ?? path.join(xdgCache, "huggingface"), home);
  const cacheDir = expandHome(
    nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE) ?? path.join(hfHome, "hub"),
    home,
  );
  const endpoint = (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  const offline = isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE);
  return { endpoint, cacheDir: path.resolve(cacheDir), offline, token: tokenFromEnv(env, hfHome, home) };
}

function tokenFromEnv(env: NodeJS.ProcessEnv, hfHome: string, home: string): string | null {
  const fromVar = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim();
  if (fromVar) return fromVar;
  const tokenFile = expandHome(env.HF_TOKEN_PATH?.trim() || path.join(hfHome, "token"), home);
  try {
    return readFileSync(tokenFile, "utf8").trim() || null;
  } catch {
    return null; // no token file: anonymous access
  }
}

/** Environment settings overridden by whatever `opts` sets explicitly. */
export function resolveHubSettings(opts: HubOptions = {}, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const fromEnv = hubSettingsFromEnv(env);
  return {
    endpoint: (opts.endpoint ?? fromEnv.endpoint).replace(/\/+$/, ""),
    cacheDir: path.resolve(opts.cacheDir ?? fromEnv.cacheDir),
    offline: opts.offline ?? fromEnv.offline,
    token: opts.token !== undefined ? opts.token : fromEnv.token,
  };
}

/** Throws a HubError unless `repoId` is a valid `org/name` hub id. */
export function validateRepoId(repoId: string): void {
  const parts = typeof repoId === "string" ? repoId.split("/") : [];
  const ok =
    parts.length === 2 &&
    repoId.length <= MAX_REPO_ID_LENGTH &&
    !repoId.includes("--") &&
    !repoId.includes("..") &&
    parts.every((p) => REPO_PART.test(p));
  if (!ok) {
    throw new HubError(
      `invalid Hugging Face repo id ${JSON.stringify(repoId)}: expected "org/name" (at most ${MAX_REPO_ID_LENGTH} ` +
        `characters: letters, digits, "-", "_", "."; no "--" or ".."), e.g. "Salesforce/blip-image-captioning-base"`,
    );
  }
}

/** True for strings that are valid hub repo ids (does not check that the repo exists). */
export function isRepoId(source: string): boolean {
  try {
    validateRepoId(source);
    return true;
  } catch {
    return false;
  }
}

/** True for a full 40-hex git commit hash. */
export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/**
 * Throws unless `relPath` is a safe relative path ("a/b.json"): no "..", ".", empty or absolute
 * parts, no backslashes or NUL. Used for revisions (they become refs/<rev>) and repo file names.
 */
export function validateRelativePath(relPath: string, what: string): void {
  const parts = relPath.split("/");
  const bad =
    relPath.length === 0 ||
    relPath.length > 1000 ||
    /[\\\0]/.test(relPath) ||
    parts.some((p) => p === "" || p === "." || p === "..");
  if (bad) throw new HubError(`invalid ${what} ${JSON.stringify(relPath)}: must be a relative path without "..", "." or empty parts`);
}

/** The cache folder of a repo: `<cacheDir>/models--{org}--{name}` (`datasets--{org}--{name}` for a dataset repo). */
export function repoCacheDir(cacheDir: string, repoId: string, repoType: RepoType = "model"): string {
  validateRepoId(repoId);
  return path.join(cacheDir, `${repoType}s--${repoId.split("/").join("--")}`);
}

const LOCK_POLL_MS = 100;

/**
 * Runs `fn` while holding `<cache>/.locks/models--org--name/<etag>.lock` (huggingface_hub's lock
 * place), so two processes never write the same blob at once. The lock file holds the owner's pid;
 * a lock whose process is gone is taken over.
 */
export async function withBlobLock<T>(cacheDir: string, repoId: string, etag: string, fn: () => Promise<T>, repoType: RepoType = "model"): Promise<T> {
  const lock = path.join(cacheDir, ".locks", path.basename(repoCacheDir(cacheDir, repoId, repoType)), `${etag}.lock`);
  await mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      const handle = await open(lock, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (lockOwnerIsGone(lock)) await rm(lock, { force: true });
    else await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

function lockOwnerIsGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(lock, "utf8"));
  } catch {
    return false; // released meanwhile: just try again
  }
  if (!Number.isInteger(pid) || pid <= 0) return false; // being written by its owner right now
  try {
    process.kill(pid, 0); // signal 0 only checks that the process exists
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** The commit a revision resolves to in the cache, or null when unknown locally. */
export function cachedCommitFor(repoDir: string, revision: string): string | null {
  if (isCommitHash(revision)) return revision;
  validateRelativePath(revision, "revision");
  try {
    const commit = readFileSync(path.join(repoDir, "refs", revision), "utf8").trim();
    return isCommitHash(commit) ? commit : null;
  } catch {
    return null;
  }
}

/**
 * The local snapshot folder of `repoId` at `revision` (branch/tag via `refs/<revision>`, or a commit
 * hash), or null when it is not cached. Never touches the network.
 */
export function resolveCachedSnapshot(repoId: string, revision: string = DEFAULT_REVISION, opts: HubOptions = {}): string | null {
  const repoDir = repoCacheDir(resolveHubSettings(opts).cacheDir, repoId, opts.repoType);
  const commit = cachedCommitFor(repoDir, revision);
  if (commit === null) return null;
  const snapshot = path.join(repoDir, "snapshots", commit);
  return isUsableSnapshot(snapshot) ? snapshot : null;
}

// A snapshot folder is usable when it exists and none of its entries is a dangling symlink (a blob
// removed by a cache cleaner). A folder left by an interrupted download also lacks its
// refs/<revision> file, because downloadModel writes the ref last.
function isUsableSnapshot(snapshot: string): boolean {
  let entries: string[];
  try {
    entries = readdirSync(snapshot, { recursive: true }) as string[];
  } catch {
    return false;
  }
  return entries.length > 0 && entries.every((entry) => existsSync(path.join(snapshot, entry)));
}

/**
 * Where a model lives on disk: an existing local folder is returned as given; otherwise `source` must
 * be a repo id whose snapshot is already in the HF cache. Never downloads: a missing model is an error
 * telling to run `captioner pull`.
 */
export function resolveModelSource(source: string, opts: HubOptions & { revision?: string } = {}): string {
  if (existsSync(source)) {
    if (!statSync(source).isDirectory()) {
      throw new HubError(`model source ${JSON.stringify(source)} is a file; give the folder that holds config.json and the weights`);
    }
    return source;
  }
  if (!isRepoId(source)) {
    throw new HubError(
      `model source ${JSON.stringify(source)} is neither an existing folder nor a Hugging Face repo id ("org/name")`,
    );
  }
  const revision = opts.revision ?? DEFAULT_REVISION;
  const snapshot = resolveCachedSnapshot(source, revision, opts);
  if (snapshot !== null) return snapshot;
  const revisionFlag = revision === DEFAULT_REVISION ? "" : ` --revision ${revision}`;
  throw new HubError(
    `model ${source}@${revision} is not in the Hugging Face cache (${resolveHubSettings(opts).cacheDir}); ` +
      `download it first with \`npx captioner pull ${source}${revisionFlag}\``,
  );
}
