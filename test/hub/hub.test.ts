// The HF hub client and cache against a fake hub on 127.0.0.1 serving the golden BLIP folders.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  checkpointFiles,
  downloadModel,
  HubError,
  HubNetworkError,
  type HubOptions,
  hubSettingsFromEnv,
  repoCacheDir,
  resolveCachedSnapshot,
  resolveModelSource,
} from "../../src/hub/index.js";
import { FakeHub, repoFromFolder } from "../helpers/fake_hub.js";

const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/blip/", import.meta.url));
const LEGACY_DIR = path.join(GOLDEN, "legacy_files_24px");
const BASE_DIR = path.join(GOLDEN, "base_like_32px");
const MAIN_JS = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

const LEGACY = "tiny-org/blip-legacy"; // only pytorch_model.bin, plus TF/Flax files that must be skipped
const BASE = "tiny-org/blip-base"; // model.safetensors
const PRIVATE = "tiny-org/blip-private";
const TOKEN = "hf_test_token";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const gitBlobSha1 = (data: Buffer) => createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
const golden = (dir: string, file: string) => readFileSync(path.join(dir, file));
const tempDirs: string[] = [];
const newCacheDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "captioner-hub-"));
  tempDirs.push(dir);
  return dir;
};

const TOKENIZER_AND_CONFIG = [
  "config.json",
  "generation_config.json",
  "preprocessor_config.json",
  "special_tokens_map.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "vocab.txt",
];

let hub: FakeHub;
const opts = (cacheDir: string, extra: HubOptions = {}): HubOptions => ({
  endpoint: hub.url,
  cacheDir,
  token: null,
  offline: false,
  ...extra,
});

before(async () => {
  const tfAndFlax = {
    "tf_model.h5": "not a pytorch file",
    "flax_model.msgpack": "not a pytorch file",
    "README.md": "# tiny",
    "empty.txt": "",
  };
  hub = await FakeHub.start({
    [LEGACY]: repoFromFolder(LEGACY_DIR, {
      exclude: ["model.safetensors", "expected.json"],
      extra: tfAndFlax,
      lfs: ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"],
    }),
    [BASE]: repoFromFolder(BASE_DIR, { exclude: ["expected.json"], lfs: ["model.safetensors"] }),
    [PRIVATE]: repoFromFolder(BASE_DIR, { exclude: ["expected.json"], lfs: ["model.safetensors"], private: true }),
  });
});

after(async () => {
  await hub.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe("downloadModel", () => {
  it("creates blobs/, a symlinked snapshots/<commit>/ and refs/main with exactly the needed files", async () => {
    const cacheDir = newCacheDir();
    const events: { file: string; downloaded: number; total: number | null }[] = [];
    const snapshot = await downloadModel(LEGACY, opts(cacheDir, { onProgress: (p) => events.push(p) }));

    const repoDir = path.join(cacheDir, "models--tiny-org--blip-legacy");
    const commit = hub.commitOf(LEGACY);
    assert.equal(snapshot, path.join(repoDir, "snapshots", commit));
    assert.equal(readFileSync(path.join(repoDir, "refs", "main"), "utf8"), commit);

    const expectedFiles = [...TOKENIZER_AND_CONFIG, "added_tokens.json", "pytorch_model.bin"].sort();
    assert.deepEqual(readdirSync(snapshot).sort(), expectedFiles);
    const expectedBlobs: string[] = [];
    for (const file of expectedFiles) {
      const data = golden(LEGACY_DIR, file);
      const etag = file === "pytorch_model.bin" ? sha256(data) : gitBlobSha1(data); // LFS vs git etag
      expectedBlobs.push(etag);
      const pointer = path.join(snapshot, file);
      assert.ok(lstatSync(pointer).isSymbolicLink(), `${file} is a symlink`);
      assert.equal(readlinkSync(pointer), `../../blobs/${etag}`);
      assert.ok(readFileSync(pointer).equals(data), `${file} has the hub's bytes`);
    }
    assert.deepEqual(readdirSync(path.join(repoDir, "blobs")).sort(), expectedBlobs.sort());

    const weights = events.filter((e) => e.file === "pytorch_model.bin");
    const size = golden(LEGACY_DIR, "pytorch_model.bin").length;
    assert.deepEqual(weights.at(-1), { file: "pytorch_model.bin", downloaded: size, total: size });
    assert.equal(resolveCachedSnapshot(LEGACY, "main", { cacheDir }), snapshot);
    assert.equal(resolveCachedSnapshot(LEGACY, commit, { cacheDir }), snapshot);
  });

  it("prefers model.safetensors and never fetches TF/Flax weights", async () => {
    const cacheDir = newCacheDir();
    hub.requests.length = 0;
    const snapshot = await downloadModel(BASE, opts(cacheDir));
    assert.deepEqual(readdirSync(snapshot).sort(), [...TOKENIZER_AND_CONFIG, "model.safetensors"].sort());
    assert.ok(readFileSync(path.join(snapshot, "model.safetensors")).equals(golden(BASE_DIR, "model.safetensors")));
    const fetched = hub.fileRequests().map((r) => r.path);
    assert.ok(fetched.some((p) => p.endsWith("/model.safetensors")));
    assert.ok(!fetched.some((p) => /tf_model|msgpack|README|pytorch_model/.test(p)));
  });

  it("makes no file request when the snapshot is already cached", async () => {
    const cacheDir = newCacheDir();
    const first = await downloadModel(LEGACY, opts(cacheDir));
    hub.requests.length = 0;
    const second = await downloadModel(LEGACY, opts(cacheDir));
    assert.equal(second, first);
    assert.deepEqual(hub.fileRequests(), []);
    assert.equal(hub.requests.length, 1, "only the revision API call");
  });

  it("resumes a cut download with Range and stores the complete file", async () => {
    const cacheDir = newCacheDir();
    const data = golden(LEGACY_DIR, "pytorch_model.bin");
    hub.requests.length = 0;
    hub.cutNext.add("pytorch_model.bin");
    const snapshot = await downloadModel(LEGACY, opts(cacheDir));
    const cdnGets = hub.requests.filter((r) => r.path.startsWith("/cdn/") && r.method === "GET");
    assert.equal(cdnGets.length, 2);
    assert.equal(cdnGets[0].range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(cdnGets[1].range ?? "")?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= data.length >> 1, `resumed at ${cdnGets[1].range} after half was sent`);
    assert.ok(readFileSync(path.join(snapshot, "pytorch_model.bin")).equals(data));
    assert.ok(!readdirSync(path.join(repoCacheDir(cacheDir, LEGACY), "blobs")).some((f) => f.endsWith(".incomplete")));
  });

  it("resumes a partial .incomplete file left by an earlier run", async () => {
    const cacheDir = newCacheDir();
    const data = golden(BASE_DIR, "model.safetensors");
    const blobs = path.join(repoCacheDir(cacheDir, BASE), "blobs");
    mkdirSync(blobs, { recursive: true });
    writeFileSync(path.join(blobs, `${sha256(data)}.incomplete`), data.subarray(0, 1000));
    hub.requests.length = 0;
    const snapshot = await downloadModel(BASE, opts(cacheDir));
    const cdnGets = hub.requests.filter((r) => r.path.startsWith("/cdn/") && r.method === "GET");
    assert.deepEqual(cdnGets.map((r) => r.range), ["bytes=1000-"]);
    assert.ok(readFileSync(path.join(snapshot, "model.safetensors")).equals(data));
  });

  it("serialises concurrent downloads of one blob: fetched once, both callers get the snapshot", async () => {
    const cacheDir = newCacheDir();
    hub.requests.length = 0;
    const [a, b] = await Promise.all([downloadModel(BASE, opts(cacheDir)), downloadModel(BASE, opts(cacheDir))]);
    assert.equal(a, b);
    assert.equal(hub.requests.filter((r) => r.path.startsWith("/cdn/") && r.method === "GET").length, 1);
    assert.ok(readFileSync(path.join(a, "model.safetensors")).equals(golden(BASE_DIR, "model.safetensors")));
    assert.deepEqual(readdirSync(path.join(cacheDir, ".locks", "models--tiny-org--blip-base")), [], "locks released");
  });

  it("rejects a body whose sha256 differs from the LFS etag and keeps it out of the snapshot", async () => {
    const cacheDir = newCacheDir();
    const data = golden(BASE_DIR, "model.safetensors");
    hub.corrupt.add("model.safetensors");
    try {
      await assert.rejects(downloadModel(BASE, opts(cacheDir)), (e: Error) => e instanceof HubError && /sha256 mismatch/.test(e.message));
    } finally {
      hub.corrupt.delete("model.safetensors");
    }
    const repoDir = repoCacheDir(cacheDir, BASE);
    const snapshot = path.join(repoDir, "snapshots", hub.commitOf(BASE));
    assert.ok(!existsSync(path.join(snapshot, "model.safetensors")));
    assert.ok(!readdirSync(path.join(repoDir, "blobs")).some((f) => f.startsWith(sha256(data))), "no blob, no .incomplete");
    assert.ok(!existsSync(path.join(repoDir, "refs", "main")), "an incomplete snapshot gets no ref");
    assert.equal(resolveCachedSnapshot(BASE, "main", { cacheDir }), null);

    const fixed = await downloadModel(BASE, opts(cacheDir)); // a clean retry completes it
    assert.ok(readFileSync(path.join(fixed, "model.safetensors")).equals(data));
  });

  it("refuses an ETag made only of dots, which would name the blobs or the repo folder", async () => {
    for (const hostile of [".", "..", "..."]) {
      const cacheDir = newCacheDir();
      // A hostile hub: every HEAD answers with this ETag.
      const fetchWithEtag: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        if (init?.method !== "HEAD") return res;
        const headers = new Headers(res.headers);
        headers.delete("x-linked-etag");
        headers.set("etag", `"${hostile}"`);
        return new Response(null, { status: res.status, statusText: res.statusText, headers });
      };
      await assert.rejects(
        downloadModel(BASE, opts(cacheDir, { fetch: fetchWithEtag })),
        (e: Error) => e instanceof HubError && e.message.includes(`no usable ETag ("${hostile}")`),
        hostile,
      );
      assert.equal(resolveCachedSnapshot(BASE, "main", { cacheDir }), null);
    }
  });

  it("sends the token to the hub but not to the CDN host, and explains 401", async () => {
    const cacheDir = newCacheDir();
    hub.requests.length = 0;
    await downloadModel(PRIVATE, opts(cacheDir, { token: TOKEN }));
    const hubHost = new URL(hub.url).host;
    const cdnHost = new URL(hub.cdnUrl).host;
    assert.ok(hub.requests.some((r) => r.host === cdnHost), "the weights came from the CDN host");
    for (const r of hub.requests) {
      assert.equal(r.authorization, r.host === hubHost ? `Bearer ${TOKEN}` : undefined, `${r.method} ${r.host}${r.path}`);
    }

    await assert.rejects(downloadModel(PRIVATE, opts(newCacheDir())), (e: Error) => {
      return e instanceof HubError && /401/.test(e.message) && /gated or private/.test(e.message) && /set HF_TOKEN/.test(e.message);
    });
    await assert.rejects(downloadModel(PRIVATE, opts(newCacheDir(), { token: "hf_wrong" })), /gated or private.*has no access/);
  });

  it("explains 404 for a missing repo, revision or file", async () => {
    const cacheDir = newCacheDir();
    await assert.rejects(downloadModel("tiny-org/missing", opts(cacheDir)), /tiny-org\/missing@main: HTTP 404, no such repo/);
    await assert.rejects(downloadModel(BASE, { ...opts(cacheDir), revision: "v9" }), /@v9: HTTP 404, no such revision/);
    await assert.rejects(
      downloadModel(BASE, { ...opts(cacheDir), files: () => ["nope.json"] }),
      /tiny-org\/blip-base@main has no file "nope.json"/,
    );
  });

  it("downloads only the files a custom selector picks, including an empty one", async () => {
    const cacheDir = newCacheDir();
    const snapshot = await downloadModel(LEGACY, { ...opts(cacheDir), files: () => ["config.json", "empty.txt"] });
    assert.deepEqual(readdirSync(snapshot).sort(), ["config.json", "empty.txt"]);
    assert.equal(readFileSync(path.join(snapshot, "empty.txt"), "utf8"), "");
  });

  it("downloads by commit hash without writing a branch ref", async () => {
    const cacheDir = newCacheDir();
    const commit = hub.commitOf(BASE);
    const snapshot = await downloadModel(BASE, { ...opts(cacheDir), revision: commit });
    assert.equal(path.basename(snapshot), commit);
    assert.ok(!existsSync(path.join(repoCacheDir(cacheDir, BASE), "refs")));
    assert.equal(resolveCachedSnapshot(BASE, commit, { cacheDir }), snapshot);
    assert.equal(resolveCachedSnapshot(BASE, "main", { cacheDir }), null);
  });

  it("refuses bad repo ids, revisions and file names before any request", async () => {
    const badIds = ["../etc", "/abs/name", "org/../x", "org/..", "org--x/y", "a/b/c", "name-only", "org/na me", "org/-x", "org/x.", "", `o/${"x".repeat(95)}`];
    hub.requests.length = 0;
    for (const id of badIds) {
      assert.throws(() => repoCacheDir("/cache", id), (e: Error) => e instanceof HubError && /invalid Hugging Face repo id/.test(e.message), id);
      await assert.rejects(downloadModel(id, opts(newCacheDir())), /invalid Hugging Face repo id/, id);
    }
    for (const revision of ["../../etc", "/main", "a//b", "x\\y"]) {
      await assert.rejects(downloadModel(BASE, { ...opts(newCacheDir()), revision }), /invalid revision/, revision);
    }
    assert.deepEqual(hub.requests, []);
    await assert.rejects(downloadModel(BASE, { ...opts(newCacheDir()), files: () => ["../../evil"] }), /invalid repo file name/);
    assert.equal(repoCacheDir("/cache", "Salesforce/blip-image-captioning-base"), "/cache/models--Salesforce--blip-image-captioning-base");
  });
});

describe("offline use", () => {
  it("HF_HUB_OFFLINE=1 loads the cached snapshot with the hub stopped and makes no request", async () => {
    const cacheDir = newCacheDir();
    const own = await FakeHub.start({ [BASE]: repoFromFolder(BASE_DIR, { exclude: ["expected.json"], lfs: ["model.safetensors"] }) });
    const snapshot = await downloadModel(BASE, { endpoint: own.url, cacheDir, token: null, offline: false });
    await own.close();

    const env = { HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: "1", HF_ENDPOINT: own.url, HF_TOKEN: "" };
    const settings = hubSettingsFromEnv(env);
    assert.equal(settings.offline, true);
    let calls = 0;
    const noNetwork = (async () => {
      calls++;
      throw new Error("network used in offline mode");
    }) as typeof fetch;
    assert.equal(await downloadModel(BASE, { ...settings, fetch: noNetwork }), snapshot);
    assert.equal(resolveModelSource(BASE, settings), snapshot);
    assert.ok(readFileSync(path.join(snapshot, "model.safetensors")).equals(golden(BASE_DIR, "model.safetensors")));
    await assert.rejects(downloadModel(LEGACY, { ...settings, fetch: noNetwork }), /offline mode is on.*not in the cache/);
    assert.equal(calls, 0);

    // Online but unreachable: the cached snapshot still serves; an uncached model says why it failed.
    const online = { ...settings, offline: false };
    assert.equal(await downloadModel(BASE, online), snapshot);
    await assert.rejects(downloadModel(LEGACY, online), (e: Error) => e instanceof HubNetworkError && /cannot reach/.test(e.message));
  });
});

describe("settings and sources", () => {
  it("reads HF_* variables like huggingface_hub", () => {
    const home = newCacheDir();
    const defaults = hubSettingsFromEnv({ HOME: home });
    assert.equal(defaults.endpoint, "https://huggingface.co");
    assert.equal(defaults.offline, false);
    assert.equal(defaults.cacheDir, path.join(home, ".cache", "huggingface", "hub"));
    assert.equal(hubSettingsFromEnv({ HOME: home, XDG_CACHE_HOME: "/xdg" }).cacheDir, "/xdg/huggingface/hub");
    assert.equal(hubSettingsFromEnv({ HOME: home, HF_HOME: "~/hf" }).cacheDir, path.join(home, "hf", "hub"));
    assert.equal(hubSettingsFromEnv({ HF_HOME: home }).cacheDir, path.join(home, "hub"));
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HUGGINGFACE_HUB_CACHE: "/legacy" }).cacheDir, "/legacy");
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HUGGINGFACE_HUB_CACHE: "/legacy", HF_HUB_CACHE: "/new" }).cacheDir, "/new");
    assert.equal(hubSettingsFromEnv({ HF_ENDPOINT: "http://mirror.local:8080/" }).endpoint, "http://mirror.local:8080");
    for (const on of ["1", "true", "YES", "on"]) assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_HUB_OFFLINE: on }).offline, true, on);
    for (const off of ["0", "false", "", "no"]) assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_HUB_OFFLINE: off }).offline, false, off);

    assert.equal(hubSettingsFromEnv({ HF_HOME: home }).token, null);
    writeFileSync(path.join(home, "token"), "hf_from_file\n");
    assert.equal(hubSettingsFromEnv({ HF_HOME: home }).token, "hf_from_file");
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_TOKEN: "hf_from_env" }).token, "hf_from_env");
  });

  it("picks the BLIP files: safetensors, else shards, else pytorch_model.bin; never TF/Flax", () => {
    const common = ["config.json", "vocab.txt", "tf_model.h5", "flax_model.msgpack", ".gitattributes"];
    assert.deepEqual(checkpointFiles([...common, "pytorch_model.bin", "model.safetensors"]), ["config.json", "vocab.txt", "model.safetensors"]);
    assert.deepEqual(
      checkpointFiles([...common, "model-00002-of-00002.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "pytorch_model.bin"]),
      ["config.json", "vocab.txt", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
    );
    assert.deepEqual(
      checkpointFiles([...common, "pytorch_model.bin.index.json", "pytorch_model-00001-of-00001.bin"]),
      ["config.json", "vocab.txt", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00001.bin"],
    );
    assert.throws(() => checkpointFiles(common), /no PyTorch weights/);
    assert.throws(() => checkpointFiles(["model.safetensors"]), /no config.json/);
  });

  it("resolveModelSource: local folders as-is, cached repos, otherwise a pull hint", async () => {
    const cacheDir = newCacheDir();
    assert.equal(resolveModelSource(BASE_DIR, { cacheDir }), BASE_DIR);
    assert.throws(() => resolveModelSource(path.join(BASE_DIR, "config.json"), { cacheDir }), /is a file/);
    assert.throws(() => resolveModelSource("./no/such/folder", { cacheDir }), /neither an existing folder nor a Hugging Face repo id/);
    assert.throws(() => resolveModelSource(BASE, { cacheDir }), /not in the Hugging Face cache.*npx captioner pull tiny-org\/blip-base`/);
    assert.throws(() => resolveModelSource(BASE, { cacheDir, revision: "v2" }), /captioner pull tiny-org\/blip-base --revision v2/);
    const snapshot = await downloadModel(BASE, opts(cacheDir));
    assert.equal(resolveModelSource(BASE, { cacheDir }), snapshot);
  });
});

describe("captioner pull", () => {
  const run = promisify(execFile);
  const cliEnv = (hfHome: string) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: hfHome, HF_ENDPOINT: hub.url, HF_HOME: hfHome };
    return env; // nothing else inherited: no stray HF_TOKEN / HF_HUB_CACHE / HF_HUB_OFFLINE
  };

  it("downloads into $HF_HOME/hub and prints the snapshot folder", async () => {
    const hfHome = newCacheDir();
    const { stdout } = await run(process.execPath, [MAIN_JS, "pull", LEGACY], { env: cliEnv(hfHome) });
    const snapshot = path.join(hfHome, "hub", "models--tiny-org--blip-legacy", "snapshots", hub.commitOf(LEGACY));
    assert.equal(stdout, `${snapshot}\n`);
    assert.ok(readFileSync(path.join(snapshot, "pytorch_model.bin")).equals(golden(LEGACY_DIR, "pytorch_model.bin")));

    const commit = hub.commitOf(BASE);
    const byCommit = await run(process.execPath, [MAIN_JS, "pull", BASE, "--revision", commit], { env: cliEnv(hfHome) });
    assert.equal(byCommit.stdout.trim(), path.join(hfHome, "hub", "models--tiny-org--blip-base", "snapshots", commit));
  });

  it("exits 1 with a clear message for a missing repo, a bad id and a private repo", async () => {
    const hfHome = newCacheDir();
    const failure = async (args: string[]) => {
      const error = await run(process.execPath, [MAIN_JS, "pull", ...args], { env: cliEnv(hfHome) }).then(
        () => assert.fail("pull should fail"),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(error.code, 1);
      return error.stderr;
    };
    assert.match(await failure(["tiny-org/missing"]), /^captioner: tiny-org\/missing@main: HTTP 404, no such repo/);
    assert.match(await failure(["../escape"]), /^captioner: invalid Hugging Face repo id/);
    assert.match(await failure([PRIVATE]), /gated or private.*set HF_TOKEN/);
  });

  it("exits 1 with one line, not a stack trace, for a file-system error", async () => {
    const notAFolder = path.join(newCacheDir(), "file");
    writeFileSync(notAFolder, "");
    // HF_HOME inside a regular file: creating the cache fails with ENOTDIR, not a HubError.
    const error = await run(process.execPath, [MAIN_JS, "pull", BASE], { env: cliEnv(path.join(notAFolder, "hf")) }).then(
      () => assert.fail("pull should fail"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(error.code, 1);
    assert.match(error.stderr, /^captioner: .*ENOTDIR/);
    assert.equal(error.stderr.trim().split("\n").length, 1, error.stderr);
  });
});

describe("pull NAME", () => {
  it("downloads the model a configuration names, and names the configured models when NAME is unknown", async () => {
    const hub = await FakeHub.start({ "acme/tiny-blip": repoFromFolder(BASE_DIR, { exclude: ["expected.json"] }) });
    try {
      const home = newCacheDir();
      const config = path.join(home, "captioner.json");
      writeFileSync(config, JSON.stringify({ models: { tiny: "acme/tiny-blip" } }));
      const env = { ...process.env, HF_HOME: path.join(home, "hf"), HF_ENDPOINT: hub.url, HF_TOKEN: "" };
      const run = (name: string) => promisify(execFile)(process.execPath, [MAIN_JS, "pull", name, "--config", config], { env });
      const { stdout } = await run("tiny");
      assert.match(stdout, /models--acme--tiny-blip/);
      assert.ok(existsSync(path.join(stdout.trim(), "model.safetensors")));
      await assert.rejects(run("nosuchname"), (e: { stderr: string }) => /nor a configured model \(configured: tiny\)/.test(e.stderr));
    } finally {
      await hub.close();
    }
  });
});
