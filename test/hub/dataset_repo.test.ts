// Dataset repos through the hub client: their own API path, resolve URLs and cache folder
// (`datasets--org--name`, as huggingface_hub lays it out), only the data files fetched, and the
// cached snapshot used offline or when the hub cannot be reached; a model repo of the same id stays apart.
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { datasetFiles, downloadDataset, HubError, type HubOptions, isDatasetFile, repoCacheDir, resolveCachedSnapshot } from "../../src/hub/index.js";
import { FakeHub, repoFromFiles } from "../helpers/fake_hub.js";

const REPO = "acme/captions";
const files = {
  "README.md": Buffer.from("---\nconfigs: ...\n---\n# card"),
  ".gitattributes": Buffer.from("*.parquet filter=lfs diff=lfs merge=lfs -text"),
  "data/train-00000-of-00001.parquet": Buffer.from("PAR1 not really, but bytes are bytes PAR1"),
  "validation/metadata.csv": Buffer.from("file_name,text\na.png,a caption\n"),
  "validation/a.png": Buffer.from("png bytes"),
  "scripts/build.py": Buffer.from("print('not data')"),
};

describe("dataset repos on the hub", () => {
  let hub: FakeHub;
  let cacheDir: string;
  const opts = (extra: HubOptions = {}): HubOptions => ({ endpoint: hub.url, cacheDir, token: null, offline: false, ...extra });

  before(async () => {
    cacheDir = mkdtempSync(path.join(tmpdir(), "captioner-hub-datasets-"));
    hub = await FakeHub.start({
      [`datasets/${REPO}`]: repoFromFiles(files, { lfs: ["data/train-00000-of-00001.parquet"] }),
      [REPO]: repoFromFiles({ "config.json": Buffer.from("{}"), "model.safetensors": Buffer.from("weights") }),
    });
  });
  after(async () => {
    await hub.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it("picks the data files only", () => {
    assert.deepEqual(datasetFiles(Object.keys(files)), ["data/train-00000-of-00001.parquet", "validation/metadata.csv", "validation/a.png"]);
    assert.ok(isDatasetFile("train/metadata.jsonl") && isDatasetFile("x/y.JPEG") && !isDatasetFile("metadata.json") && !isDatasetFile("notmetadata.jsonl"));
    assert.throws(() => datasetFiles(["README.md"]), (e: Error) => e instanceof HubError && /no parquet files, metadata.jsonl\/metadata.csv or images/.test(e.message));
  });

  it("downloads into datasets--org--name with the dataset API and resolve URLs, byte for byte", async () => {
    const snapshot = await downloadDataset(REPO, opts());
    const repoDir = repoCacheDir(cacheDir, REPO, "dataset");
    assert.equal(repoDir, path.join(cacheDir, "datasets--acme--captions"));
    assert.equal(snapshot, path.join(repoDir, "snapshots", hub.commitOf(`datasets/${REPO}`)));
    assert.equal(readFileSync(path.join(repoDir, "refs", "main"), "utf8"), hub.commitOf(`datasets/${REPO}`));
    for (const file of datasetFiles(Object.keys(files))) {
      assert.ok(lstatSync(path.join(snapshot, file)).isSymbolicLink(), `${file} links into blobs/`);
      assert.ok(readFileSync(path.join(snapshot, file)).equals(files[file as keyof typeof files]), file);
    }
    assert.ok(!existsSync(path.join(snapshot, "README.md")) && !existsSync(path.join(snapshot, "scripts")));
    const paths = hub.requests.map((r) => `${r.method} ${r.path}`);
    assert.ok(paths.includes(`GET /api/datasets/${REPO}/revision/main`));
    assert.ok(paths.some((p) => p.startsWith(`HEAD /datasets/${REPO}/resolve/`)));
    assert.ok(!paths.some((p) => p.includes(`/api/models/${REPO}`)), "never asks the model API");
    assert.ok(!existsSync(repoCacheDir(cacheDir, REPO)), "the model repo of the same id is not touched");
  });

  it("offline, or with the hub unreachable, the cached snapshot is used; a model lookup does not find it", async () => {
    const cached = resolveCachedSnapshot(REPO, "main", opts({ repoType: "dataset" }));
    assert.ok(cached !== null);
    assert.equal(resolveCachedSnapshot(REPO, "main", opts()), null);
    const before = hub.requests.length;
    assert.equal(await downloadDataset(REPO, opts({ offline: true })), cached);
    assert.equal(hub.requests.length, before, "offline: no request");
    assert.equal(await downloadDataset(REPO, opts({ endpoint: "http://127.0.0.1:9" })), cached);
    await assert.rejects(downloadDataset("acme/other", opts({ offline: true })), /offline mode is on/);
  });
});
