// A fake Hugging Face hub on 127.0.0.1 for tests: the revision API, resolve URLs with ETag /
// X-Linked-Etag / X-Repo-Commit headers, LFS files redirected to a "CDN" path on another host name
// (localhost), Range requests, private repos, and injectable faults (cut body, corrupt body). Dataset
// repos are keyed "datasets/org/name" and served under /api/datasets/… and /datasets/…/resolve/….
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

export interface FakeRepo {
  files: Map<string, Buffer>;
  /** Files served like git-LFS files: a 302 from the hub to the CDN host, etag = sha256. */
  lfs: Set<string>;
  /** Requires `Authorization: Bearer <hub token>`; anonymous requests get 401. */
  private?: boolean;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  host: string;
  authorization: string | undefined;
  range: string | undefined;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
// The id git gives a blob; the hub uses it as the ETag of regular (non-LFS) files.
const gitBlobSha1 = (data: Buffer) => createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");

/** A repo holding the top-level files of `dir` minus `exclude`, plus `extra` files; `lfs` as named. */
export function repoFromFolder(
  dir: string,
  opts: { exclude?: string[]; extra?: Record<string, string>; lfs?: string[]; private?: boolean } = {},
): FakeRepo {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) {
    if (opts.exclude?.includes(name) || !statSync(path.join(dir, name)).isFile()) continue;
    files.set(name, readFileSync(path.join(dir, name)));
  }
  for (const [name, text] of Object.entries(opts.extra ?? {})) files.set(name, Buffer.from(text));
  return { files, lfs: new Set(opts.lfs ?? []), private: opts.private };
}

/** A repo holding exactly `files` (paths may have folders: "data/train-00000-of-00001.parquet"). */
export function repoFromFiles(files: Record<string, Uint8Array>, opts: { lfs?: string[]; private?: boolean } = {}): FakeRepo {
  return { files: new Map(Object.entries(files).map(([name, data]) => [name, Buffer.from(data)])), lfs: new Set(opts.lfs ?? []), private: opts.private };
}

export class FakeHub {
  readonly requests: RequestLogEntry[] = [];
  /** File names whose next body response is cut in the middle (then the socket is destroyed). */
  readonly cutNext = new Set<string>();
  /** File names whose body is served with one byte changed (same length). */
  readonly corrupt = new Set<string>();

  private listenPort = 0;

  private constructor(
    private readonly server: Server,
    readonly repos: Map<string, FakeRepo>,
    readonly token: string,
  ) {}

  /** Starts the server on 127.0.0.1 with a random port. */
  static async start(repos: Record<string, FakeRepo>, token = "hf_test_token"): Promise<FakeHub> {
    let hub: FakeHub | undefined;
    const server = createServer((req, res) => hub!.handle(req, res));
    hub = new FakeHub(server, new Map(Object.entries(repos)), token);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hub.listenPort = (server.address() as AddressInfo).port;
    return hub;
  }

  /** The listening port (kept after close, so a test can point a client at a stopped hub). */
  get port(): number {
    return this.listenPort;
  }

  /** The hub endpoint (what HF_ENDPOINT is set to). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The CDN base: same server, different host name, so clients must not send the hub token there. */
  get cdnUrl(): string {
    return `http://localhost:${this.port}`;
  }

  /** The commit hash of a repo: stable, derived from its content. */
  commitOf(repoId: string): string {
    const hash = createHash("sha1").update(repoId);
    for (const [name, data] of this.repos.get(repoId)!.files) hash.update(name).update(gitBlobSha1(data));
    return hash.digest("hex");
  }

  /** Requests for file bytes or metadata (resolve + CDN), not API calls. */
  fileRequests(): RequestLogEntry[] {
    return this.requests.filter((r) => !r.path.startsWith("/api/"));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    this.requests.push({
      method: req.method ?? "",
      path: url.pathname,
      host: req.headers.host ?? "",
      authorization: req.headers.authorization,
      range: req.headers.range,
    });
    const api = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (api) return this.revisionInfo(req, res, api[1] === "datasets" ? `datasets/${api[2]}` : api[2], decodeURIComponent(api[3]));
    if (resolve) return this.resolveFile(req, res, `${resolve[1] ?? ""}${resolve[2]}`, decodeURIComponent(resolve[3]), decodeURIComponent(resolve[4]));
    if (cdn) return this.serveCdn(req, res, cdn[1]);
    this.fail(res, 404, "NotFound");
  }

  /** Checks repo, access and revision; answers the error itself and returns null when one fails. */
  private checkRepo(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string): FakeRepo | null {
    const repo = this.repos.get(repoId);
    if (repo === undefined) return this.fail(res, 404, "RepoNotFound");
    if (repo.private && req.headers.authorization !== `Bearer ${this.token}`) return this.fail(res, 401, "GatedRepo");
    if (revision !== "main" && revision !== this.commitOf(repoId)) return this.fail(res, 404, "RevisionNotFound");
    return repo;
  }

  private revisionInfo(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string): void {
    const repo = this.checkRepo(req, res, repoId, revision);
    if (repo === null) return;
    const body = JSON.stringify({
      id: repoId.replace(/^datasets\//, ""),
      sha: this.commitOf(repoId),
      siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
    });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  }

  private resolveFile(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string, file: string): void {
    const repo = this.checkRepo(req, res, repoId, revision);
    if (repo === null) return;
    const data = repo.files.get(file);
    if (data === undefined) return void this.fail(res, 404, "EntryNotFound");
    const commitHeader = { "x-repo-commit": this.commitOf(repoId) };
    if (repo.lfs.has(file)) {
      // Like the hub: the redirect carries the LFS file's sha256 and size; the bytes come from the CDN.
      res.writeHead(302, {
        ...commitHeader,
        location: `${this.cdnUrl}/cdn/${sha256(data)}`,
        "x-linked-etag": `"${sha256(data)}"`,
        "x-linked-size": String(data.length),
        etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\n`))}"`,
      });
      return void res.end();
    }
    this.serveBytes(req, res, file, data, { ...commitHeader, etag: `"${gitBlobSha1(data)}"` });
  }

  private serveCdn(req: IncomingMessage, res: ServerResponse, hash: string): void {
    for (const repo of this.repos.values()) {
      for (const [file, data] of repo.files) {
        if (repo.lfs.has(file) && sha256(data) === hash) return this.serveBytes(req, res, file, data, {});
      }
    }
    this.fail(res, 404, "NotFound");
  }

  /** Full body or a `Range: bytes=N-` tail, with the configured faults applied. */
  private serveBytes(req: IncomingMessage, res: ServerResponse, file: string, data: Buffer, headers: Record<string, string>): void {
    let body = data;
    if (this.corrupt.has(file)) {
      body = Buffer.from(data);
      body[body.length >> 1] ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    let status = 200;
    if (range) {
      const start = Number(range[1]);
      if (start >= body.length) return void res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      headers = { ...headers, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` };
      body = body.subarray(start);
      status = 206;
    }
    res.writeHead(status, { ...headers, "content-length": String(body.length), "accept-ranges": "bytes" });
    if (req.method === "HEAD") return void res.end();
    if (this.cutNext.delete(file)) {
      // Announce the full length, send half, then drop the connection: an interrupted download. The
      // pause lets the client take the half in (a stream that errors drops chunks it has not read).
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.destroy(), 100));
      return;
    }
    res.end(body);
  }

  private fail(res: ServerResponse, status: number, errorCode: string): null {
    res.writeHead(status, { "x-error-code": errorCode, "content-type": "application/json" });
    res.end(JSON.stringify({ error: errorCode }));
    return null;
  }
}
