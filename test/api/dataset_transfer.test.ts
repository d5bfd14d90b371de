// Dataset import and export over HTTP: a datasets parquet file, zips of imagefolders (metadata.jsonl
// and metadata.csv), dataset repos on a fake Hugging Face hub (parquet under data/ and the imagefolder
// layout), the export's tar re-imported byte for byte, the role checks, and files that cannot be
// imported refused up front or skipped entry by entry with their reasons.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { FastifyInstance } from "fastify";
import { zipSync } from "fflate";
import { parquetWriteBuffer } from "hyparquet-writer";
import tar from "tar-stream";
import { buildApp } from "../../src/api/app.js";
import { openServices, startJobHandlers, type Services } from "../../src/api/services.js";
import { FakeHub, repoFromFiles } from "../helpers/fake_hub.js";
import { goldenImage, multipart, testApp, testConfig } from "../helpers/app.js";
import { redisSkip, startRedis } from "../helpers/redis.js";
import { shapesRoot } from "../helpers/shapes.js";

interface ShapesRow {
  file_name: string;
  text: string;
  captions: string[];
}

/** The first `n` rows of a shapes split (real images and human captions) with their bytes. */
function shapes(split: string, n: number, skip = 0): (ShapesRow & { bytes: Buffer })[] {
  const lines = fs.readFileSync(path.join(shapesRoot, split, "metadata.jsonl"), "utf8").trim().split("\n").slice(skip, skip + n);
  return lines.map((line) => {
    const row = JSON.parse(line) as ShapesRow;
    return { ...row, bytes: fs.readFileSync(path.join(shapesRoot, split, row.file_name)) };
  });
}

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A parquet file as `datasets` writes one: an `image` struct {bytes, path} and caption columns. */
function datasetsParquet(rows: { image: { bytes: Uint8Array | null; path: string | null }; text?: string; captions?: string[]; split?: string | null }[], captionColumn: "text" | "captions"): Uint8Array {
  const columns = [
    { name: "image", data: rows.map((r) => r.image) },
    { name: captionColumn, data: rows.map((r) => r[captionColumn] ?? null) },
    ...(rows.some((r) => r.split !== undefined) ? [{ name: "split", data: rows.map((r) => r.split ?? null) }] : []),
  ];
  const captionSchema =
    captionColumn === "text"
      ? [{ name: "text", type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const, repetition_type: "OPTIONAL" as const }]
      : [
          { name: "captions", repetition_type: "OPTIONAL" as const, converted_type: "LIST" as const, num_children: 1 },
          { name: "list", repetition_type: "REPEATED" as const, num_children: 1 },
          { name: "element", type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const, repetition_type: "OPTIONAL" as const },
        ];
  const splitSchema = columns.length === 3 ? [{ name: "split", type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const, repetition_type: "OPTIONAL" as const }] : [];
  const buffer = parquetWriteBuffer({
    columnData: columns,
    schema: [
      { name: "schema", num_children: columns.length },
      { name: "image", repetition_type: "OPTIONAL", num_children: 2 },
      { name: "bytes", type: "BYTE_ARRAY", repetition_type: "OPTIONAL" },
      { name: "path", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
      ...captionSchema,
      ...splitSchema,
    ],
    rowGroupSize: 2, // several row groups: the reader goes one at a time
  });
  return new Uint8Array(buffer);
}

const jsonl = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join("\n") + "\n");

/** A tar's files by name. */
async function untar(bytes: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        files.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(bytes);
  await done;
  return files;
}

describe("dataset import and export", () => {
  let app: FastifyInstance;
  let services: Services;
  let hub: FakeHub;
  let dataDir: string;
  let cacheDir: string;
  let admin: Record<string, string>;
  let contributor: Record<string, string>;
  let user: Record<string, string>;
  const train = shapes("train", 6);
  const validation = shapes("validation", 3);

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-import-"));
    cacheDir = path.join(dataDir, "hf-cache");
    const hubParquet = datasetsParquet(train.slice(0, 3).map((r) => ({ image: { bytes: r.bytes, path: r.file_name }, captions: r.captions })), "captions");
    const hubValidation = datasetsParquet(validation.map((r) => ({ image: { bytes: r.bytes, path: r.file_name }, captions: r.captions })), "captions");
    hub = await FakeHub.start({
      "datasets/Ilia-Iliev/example_captioner": repoFromFiles(
        { "README.md": Buffer.from("# example"), ".gitattributes": Buffer.from("*.parquet filter=lfs"), "data/train-00000-of-00001.parquet": hubParquet, "data/validation-00000-of-00001.parquet": hubValidation },
        { lfs: ["data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"] },
      ),
      "datasets/acme/folder-layout": repoFromFiles({
        "README.md": Buffer.from("# folder"),
        "train/metadata.jsonl": jsonl(train.slice(3, 5).map(({ file_name, text }) => ({ file_name, text }))),
        ...Object.fromEntries(train.slice(3, 5).map((r) => [`train/${r.file_name}`, r.bytes])),
      }),
    });
    ({ app, services } = await testApp({ dataDir, load: false, hub: { endpoint: hub.url, cacheDir, token: null, offline: false }, limits: { maxImportBytes: 400_000, maxUploadBytes: 200_000, maxPixels: 500_000 } }));
    await startJobHandlers(services);
    admin = { authorization: `Bearer ${services.keys.create("admin").key}` };
    contributor = { "x-api-key": services.keys.create("contributor").key };
    user = { "x-api-key": services.keys.create("user").key };
    for (const name of ["parquet", "zips", "hub", "copy", "bad"]) services.datasets.createDataset(name);
  });
  after(async () => {
    await app.close();
    await hub.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const upload = (name: string, file: Uint8Array, fileName: string, fields: Record<string, string> = {}, headers = admin) => {
    const body = multipart([{ name: "file", file: { data: file, filename: fileName } }, ...Object.entries(fields).map(([k, value]) => ({ name: k, value }))]);
    return app.inject({ method: "POST", url: `/v1/datasets/${name}/import`, headers: { ...headers, ...body.headers }, payload: body.payload });
  };
  /** Waits for the job, then reads it back over HTTP as an admin. */
  const finished = async (res: { statusCode: number; body: string; json(): { id: string } }) => {
    assert.equal(res.statusCode, 202, res.body);
    await services.queue.waitFor(res.json().id, 30_000);
    const job = await app.inject({ method: "GET", url: `/v1/jobs/${res.json().id}`, headers: admin });
    assert.equal(job.statusCode, 200);
    return job.json();
  };
  const items = async (name: string) => (await app.inject({ method: "GET", url: `/v1/datasets/${name}/items?limit=1000`, headers: contributor })).json().items as { id: string; split: string; captions: string[]; reviewed: boolean; imageSha256: string }[];
  const image = async (name: string, id: string) => (await app.inject({ method: "GET", url: `/v1/datasets/${name}/items/${id}/image`, headers: contributor })).rawPayload;
  const errorOf = (res: { statusCode: number; json(): { error: { code: string; message: string } } }) => [res.statusCode, res.json().error.code];
  const stagedFiles = () => (fs.existsSync(path.join(dataDir, "datasets", "uploads")) ? fs.readdirSync(path.join(dataDir, "datasets", "uploads")) : []);

  test("a datasets parquet file: captions, split column, split from the file name, rows without usable images skipped", async () => {
    const damaged = train[5]!.bytes.subarray(0, 60);
    const file = datasetsParquet(
      [
        { image: { bytes: train[0]!.bytes, path: "000000.png" }, text: train[0]!.text },
        { image: { bytes: train[1]!.bytes, path: null }, text: train[1]!.text, split: "test" },
        { image: { bytes: train[2]!.bytes, path: null }, text: null as unknown as string }, // uncaptioned
        { image: { bytes: null, path: "elsewhere/x.png" }, text: "no bytes" },
        { image: { bytes: damaged, path: null }, text: "cut short" },
      ],
      "text",
    );
    const job = await finished(await upload("parquet", file, "validation-00000-of-00001.parquet"));
    assert.equal(job.kind, "dataset.import");
    assert.equal(job.state, "done", job.error);
    assert.equal(job.progress, 1);
    assert.equal(job.result.added, 3);
    assert.deepEqual(job.result.splits, { train: 0, validation: 2, test: 1 });
    assert.equal(job.result.skippedCount, 2);
    assert.deepEqual(job.result.skipped.map((s: { source: string }) => s.source), ["validation-00000-of-00001.parquet row 3", "validation-00000-of-00001.parquet row 4"]);
    assert.match(job.result.skipped[0].reason, /no image bytes.*elsewhere\/x\.png/);
    assert.match(job.result.skipped[1].reason, /truncated|damaged|corrupt|invalid|decode|end/i);

    const got = await items("parquet");
    assert.deepEqual(got.map((i) => [i.split, i.captions, i.reviewed]), [["validation", [train[0]!.text], true], ["test", [train[1]!.text], true], ["validation", [], false]]);
    for (const [i, row] of [train[0]!, train[1]!, train[2]!].entries()) assert.ok((await image("parquet", got[i]!.id)).equals(row.bytes));
    assert.deepEqual(stagedFiles(), [], "the staged upload is removed once the job ends");

    // The same file again: every image is already there.
    const again = await finished(await upload("parquet", file, "validation-00000-of-00001.parquet", { split: "train" }));
    assert.equal(again.result.added, 0);
    assert.ok(again.result.skipped.filter((s: { reason: string }) => /already in the dataset/.test(s.reason)).length === 3);
  });

  test("zips of imagefolders: metadata.jsonl per split folder, metadata.csv with a split column; bad entries are skipped with reasons, names never reach the disk", async () => {
    const [a, b, c, d, e] = train;
    const zip = zipSync({
      "train/metadata.jsonl": jsonl([
        { file_name: a!.file_name, text: a!.text, captions: a!.captions },
        { file_name: b!.file_name, text: b!.text },
        { file_name: "missing.png", text: "not in the archive" },
        { file_name: "../../escape.png", text: "leaves the folder" },
      ]),
      "train/broken-line-follows.txt": Buffer.from("ignored"),
      [`train/${a!.file_name}`]: a!.bytes,
      [`train/${b!.file_name}`]: b!.bytes,
      [`train/${c!.file_name}`]: c!.bytes, // not listed in the metadata
      "val/metadata.jsonl": Buffer.concat([jsonl([{ file_name: d!.file_name, captions: d!.captions }]), Buffer.from("{not json\n")]),
      [`val/${d!.file_name}`]: d!.bytes,
      "loose/e.png": e!.bytes, // no metadata anywhere above: an uncaptioned train item
      "../evil.png": a!.bytes,
    });
    const job = await finished(await upload("zips", zip, "../../../etc/passwd"));
    assert.equal(job.state, "done", job.error);
    assert.equal(job.result.added, 4);
    assert.deepEqual(job.result.splits, { train: 3, validation: 1, test: 0 });
    const reasons = Object.fromEntries(job.result.skipped.map((s: { source: string; reason: string }) => [s.source, s.reason]));
    assert.deepEqual(Object.keys(reasons).sort(), ["../evil.png", "train/000002.png", "train/metadata.jsonl line 3", "train/metadata.jsonl line 4", "val/metadata.jsonl line 2"]);
    assert.match(reasons["../evil.png"], /unsafe entry name/);
    assert.match(reasons["train/000002.png"], /not listed in train\/metadata/);
    assert.match(reasons["train/metadata.jsonl line 3"], /"missing.png" is not in train\//);
    assert.match(reasons["train/metadata.jsonl line 4"], /leaves the metadata file's folder/);
    assert.match(reasons["val/metadata.jsonl line 2"], /not valid JSON/);
    assert.equal(job.result.ignoredFiles, 1);

    const got = await items("zips");
    const bySha = new Map(got.map((i) => [i.imageSha256, i]));
    assert.deepEqual(bySha.get(sha(a!.bytes)), { ...bySha.get(sha(a!.bytes))!, split: "train", captions: a!.captions, reviewed: true });
    assert.deepEqual([bySha.get(sha(b!.bytes))!.captions, bySha.get(sha(d!.bytes))!.split, bySha.get(sha(d!.bytes))!.captions], [[b!.text], "validation", d!.captions]);
    assert.deepEqual([bySha.get(sha(e!.bytes))!.split, bySha.get(sha(e!.bytes))!.captions, bySha.get(sha(e!.bytes))!.reviewed], ["train", [], false]);
    for (const item of got) assert.ok((await image("zips", item.id)).equals(train.find((r) => sha(r.bytes) === item.imageSha256)!.bytes));
    // Only digests under datasets/images; nothing named after an entry or the upload anywhere.
    const onDisk = fs.readdirSync(path.join(dataDir, "datasets"), { recursive: true }) as string[];
    assert.ok(onDisk.every((f) => /^(images|tmp|uploads)(\/[0-9a-f]{2}(\/[0-9a-f]{64})?)?$/.test(f)), onDisk.join(", "));
    assert.ok(!fs.existsSync(path.join(dataDir, "evil.png")) && !fs.existsSync(path.join(os.tmpdir(), "evil.png")));

    // metadata.csv: quoted fields with commas, a JSON list of captions, a split column.
    const csv = [
      "file_name,text,split,captions",
      `${validation[0]!.file_name},"a caption, with a comma",test,`,
      `${validation[1]!.file_name},,validation,"[""first"", ""second \\""quoted\\"" one""]"`,
      `${validation[2]!.file_name},x,holdout,`,
    ].join("\r\n");
    const csvZip = zipSync({ "metadata.csv": Buffer.from(csv), ...Object.fromEntries(validation.map((r) => [r.file_name, r.bytes])) });
    const csvJob = await finished(await upload("zips", csvZip, "pets.zip"));
    assert.equal(csvJob.state, "done", JSON.stringify(csvJob));
    assert.equal(csvJob.result.added, 2, JSON.stringify(csvJob.result));
    assert.deepEqual(csvJob.result.skipped, [{ source: "metadata.csv line 4", reason: 'split "holdout" is not one of train, validation, test (or an alias such as val, dev)' }]);
    const csvItems = (await items("zips")).slice(-2);
    assert.deepEqual(csvItems.map((i) => [i.split, i.captions, i.reviewed]), [["test", ["a caption, with a comma"], true], ["validation", ["first", 'second "quoted" one'], true]]);

    // The request's split beats a folder's name (a row's own split column beats both, above).
    const moved = await finished(await upload("zips", zipSync({ [`train/${train[5]!.file_name}`]: train[5]!.bytes }), "x.zip", { split: "test" }));
    assert.deepEqual(moved.result.splits, { train: 0, validation: 0, test: 1 });
  });

  test("from the hub: a dataset repo's parquet files under data/ and an imagefolder repo, through the HF cache", async () => {
    const job = await finished(await app.inject({ method: "POST", url: "/v1/datasets/hub/import", headers: admin, payload: { hub: "Ilia-Iliev/example_captioner" } }));
    assert.equal(job.state, "done", job.error);
    assert.deepEqual([job.result.added, job.result.splits, job.result.skippedCount], [6, { train: 3, validation: 3, test: 0 }, 0]);
    assert.equal(job.result.commit, hub.commitOf("datasets/Ilia-Iliev/example_captioner"));
    const got = await items("hub");
    assert.deepEqual(got.map((i) => i.captions), [...train.slice(0, 3), ...validation].map((r) => r.captions));
    assert.ok((await image("hub", got[4]!.id)).equals(validation[1]!.bytes));
    // Dataset repos use their own API paths and cache folder; the card is never fetched.
    assert.ok(hub.requests.some((r) => r.path === "/api/datasets/Ilia-Iliev/example_captioner/revision/main"));
    assert.ok(!hub.requests.some((r) => r.path.endsWith("README.md")));
    const snapshot = path.join(cacheDir, "datasets--Ilia-Iliev--example_captioner", "snapshots", job.result.commit);
    assert.ok(fs.existsSync(path.join(snapshot, "data", "train-00000-of-00001.parquet")));

    const folder = await finished(await app.inject({ method: "POST", url: "/v1/datasets/hub/import", headers: admin, payload: { hub: "acme/folder-layout", revision: "main" } }));
    assert.deepEqual([folder.result.added, folder.result.splits.train], [2, 2]);
    assert.deepEqual((await items("hub")).slice(-2).map((i) => [i.captions, i.reviewed]), [[[train[3]!.text], true], [[train[4]!.text], true]]);

    const missing = await finished(await app.inject({ method: "POST", url: "/v1/datasets/hub/import", headers: admin, payload: { hub: "acme/nope" } }));
    assert.equal(missing.state, "failed");
    assert.match(missing.error, /HTTP 404/);
  });

  test("with downloads off, a cached dataset repo imports from the HF cache alone; an uncached one is refused with 409", async () => {
    const offline = await openServices({ ...testConfig({ dataDir }), allowDownloads: false }, { dbFile: ":memory:", hub: { endpoint: hub.url, cacheDir, token: null, offline: false } });
    const offlineApp = await buildApp({ services: offline });
    try {
      await startJobHandlers(offline);
      offline.datasets.createDataset("cached");
      const key = { "x-api-key": offline.keys.create("admin").key };
      const before = hub.requests.length;
      const res = await offlineApp.inject({ method: "POST", url: "/v1/datasets/cached/import", headers: key, payload: { hub: "Ilia-Iliev/example_captioner" } });
      assert.equal(res.statusCode, 202, res.body);
      const job = await offline.queue.waitFor(res.json().id, 30_000);
      assert.equal(job.state, "done", job.error ?? "");
      assert.equal((job.result as { added: number }).added, 6);
      assert.equal(hub.requests.length, before, "no request reached the hub");
      const refused = await offlineApp.inject({ method: "POST", url: "/v1/datasets/cached/import", headers: key, payload: { hub: "acme/not-cached" } });
      assert.deepEqual(errorOf(refused), [409, "downloads_disabled"]);
    } finally {
      await offlineApp.close();
    }
  });

  test("export streams the imagefolder layout as a tar; importing it gives the same items, byte for byte", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/datasets/zips/export", headers: admin });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-type"], "application/x-tar");
    const files = await untar(res.rawPayload);
    const source = await items("zips");
    const names = [...files.keys()];
    assert.equal(names.filter((n) => !n.endsWith("metadata.jsonl")).length, source.length);
    for (const split of ["train", "validation", "test"]) {
      const lines = files.get(`${split}/metadata.jsonl`)!.toString("utf8").trim().split("\n").map((l) => JSON.parse(l));
      const inSplit = source.filter((i) => i.split === split);
      assert.equal(lines.length, inSplit.length, split);
      for (const [k, line] of lines.entries()) {
        assert.deepEqual([line.file_name, line.text, line.captions ?? [], line.reviewed], [`${inSplit[k]!.id}.png`, inSplit[k]!.captions[0] ?? "", inSplit[k]!.captions, inSplit[k]!.reviewed]);
        assert.equal(sha(files.get(`${split}/${line.file_name}`)!), inSplit[k]!.imageSha256);
      }
    }

    const job = await finished(await upload("copy", res.rawPayload, "zips.tar"));
    assert.equal(job.state, "done", job.error);
    assert.equal(job.result.skippedCount, 0);
    const copy = await items("copy");
    const view = (list: typeof copy) => list.map((i) => [i.split, i.captions, i.reviewed, i.imageSha256]).sort((x, y) => String(x[3]).localeCompare(String(y[3])));
    assert.deepEqual(view(copy), view(source));
    for (const item of copy) assert.ok((await image("copy", item.id)).equals(await image("zips", source.find((s) => s.imageSha256 === item.imageSha256)!.id)));
  });

  test("roles: anonymous 401, user and contributor 403; unknown dataset 404", async () => {
    const zip = zipSync({ "a.png": goldenImage("rgb_square.png") });
    for (const [headers, status] of [[{}, 401], [user, 403], [contributor, 403]] as const) {
      assert.equal((await upload("bad", zip, "a.zip", {}, headers)).statusCode, status);
      assert.equal((await app.inject({ method: "POST", url: "/v1/datasets/bad/import", headers, payload: { hub: "acme/folder-layout" } })).statusCode, status);
      assert.equal((await app.inject({ method: "GET", url: "/v1/datasets/bad/export", headers })).statusCode, status);
    }
    assert.deepEqual(errorOf(await upload("nope", zip, "a.zip")), [404, "unknown_dataset"]);
    assert.deepEqual(errorOf(await app.inject({ method: "POST", url: "/v1/datasets/nope/import", headers: admin, payload: { hub: "acme/folder-layout" } })), [404, "unknown_dataset"]);
    assert.deepEqual(errorOf(await app.inject({ method: "GET", url: "/v1/datasets/nope/export", headers: admin })), [404, "unknown_dataset"]);
    assert.equal((await items("bad")).length, 0);
  });

  test("files that cannot be imported are refused up front with what to fix; nothing stays staged", async () => {
    const png = goldenImage("rgb_square.png");
    const cases: [Uint8Array, number, string, RegExp][] = [
      [Buffer.from("just some text, not an archive"), 415, "unsupported_file", /neither a zip or tar archive nor a parquet file/],
      [zipSync({ "a.png": png }).subarray(0, 60), 400, "invalid_archive", /not a readable zip archive/],
      [zipSync({ "README.md": Buffer.from("hello") }), 400, "nothing_to_import", /no images, imagefolder metadata/],
      [new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "text", data: ["a"], type: "STRING" }] })), 400, "invalid_parquet", /no image column.*the file has: text/],
      [Buffer.concat([Buffer.from("PAR1"), Buffer.alloc(40)]), 400, "invalid_parquet", /not a readable parquet file/],
      [Buffer.alloc(500_000, 7), 413, "import_too_large", /maxImportBytes/],
    ];
    for (const [file, status, code, message] of cases) {
      const res = await upload("bad", file, "x.zip");
      assert.deepEqual(errorOf(res), [status, code], res.body);
      assert.match(res.json().error.message, message);
    }
    const noFile = multipart([{ name: "split", value: "train" }]);
    let res = await app.inject({ method: "POST", url: "/v1/datasets/bad/import", headers: { ...admin, ...noFile.headers }, payload: noFile.payload });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, "missing_file");
    res = await upload("bad", zipSync({ "a.png": png }), "a.zip", { split: "holdout" });
    assert.deepEqual(errorOf(res), [400, "invalid_request"]);
    res = await app.inject({ method: "POST", url: "/v1/datasets/bad/import", headers: admin, payload: { hub: "not a repo" } });
    assert.deepEqual(errorOf(res), [400, "invalid_request"]);
    for (const revision of ["..", "main/../../../x", "a..b", "a//b", ".hidden"]) {
      res = await app.inject({ method: "POST", url: "/v1/datasets/bad/import", headers: admin, payload: { hub: "acme/x", revision } });
      assert.deepEqual(errorOf(res), [400, "invalid_request"], revision);
      assert.match(res.json().error.message, /body\.revision must be a branch, tag or commit.*no "\.\."/, revision);
    }
    res = await app.inject({ method: "POST", url: "/v1/datasets/bad/import", headers: admin, payload: { repo: "acme/x" } });
    assert.deepEqual(errorOf(res), [400, "invalid_request"]);
    res = await app.inject({ method: "POST", url: "/v1/datasets/bad/import", headers: { ...admin, "content-type": "text/plain" }, payload: "hello" });
    assert.equal(res.statusCode, 415);
    assert.deepEqual(stagedFiles(), []);
    assert.equal((await items("bad")).length, 0);
  });
});

describe("dataset import with Redis + BullMQ", { skip: redisSkip }, () => {
  test("the API node that holds the datasets runs the import job from the BullMQ queue", async () => {
    const redis = await startRedis();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-import-redis-"));
    const services = await openServices({ ...testConfig({ dataDir }), redisUrl: redis.url }, { dbFile: ":memory:" });
    const app = await buildApp({ services });
    try {
      await startJobHandlers(services);
      services.datasets.createDataset("pets");
      const [a, b] = shapes("train", 2);
      const zip = zipSync({ "train/metadata.jsonl": jsonl([{ file_name: a!.file_name, text: a!.text }]), [`train/${a!.file_name}`]: a!.bytes, [`test/${b!.file_name}`]: b!.bytes });
      const body = multipart([{ name: "file", file: { data: zip, filename: "pets.zip" } }]);
      const res = await app.inject({ method: "POST", url: "/v1/datasets/pets/import", headers: body.headers, payload: body.payload });
      assert.equal(res.statusCode, 403, "no keys: dataset routes are closed");
      const key = services.keys.create("admin").key;
      const accepted = await app.inject({ method: "POST", url: "/v1/datasets/pets/import", headers: { ...body.headers, "x-api-key": key }, payload: body.payload });
      assert.equal(accepted.statusCode, 202, accepted.body);
      const job = await services.queue.waitFor(accepted.json().id, 30_000);
      assert.equal(job.state, "done", job.error ?? "");
      assert.deepEqual((job.result as { splits: object }).splits, { train: 1, validation: 0, test: 1 });
      const listed = services.datasets.listItems("pets").items.map((i) => [i.split, i.captions, i.reviewed]);
      assert.deepEqual(listed, [["train", [a!.text], true], ["test", [], false]]);
    } finally {
      await app.close();
      await redis.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

test("staged uploads do not outlive their import: a cancelled import's file goes at once, a dead process's orphan at the next start", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-import-staged-"));
  const uploads = path.join(dataDir, "datasets", "uploads");
  const start = async (handlers: boolean) => {
    const services = await openServices(testConfig({ dataDir }), { dbFile: path.join(dataDir, "captioner.db") });
    if (handlers) await startJobHandlers(services);
    return { services, app: await buildApp({ services }) };
  };
  let { services, app } = await start(false); // no handlers: the imports stay queued
  try {
    services.datasets.createDataset("pets");
    const headers = { "x-api-key": services.keys.create("admin").key };
    const [a] = shapes("train", 1);
    const body = multipart([{ name: "file", file: { data: zipSync({ [`train/${a!.file_name}`]: a!.bytes }), filename: "pets.zip" } }]);
    const post = async () => (await app.inject({ method: "POST", url: "/v1/datasets/pets/import", headers: { ...headers, ...body.headers }, payload: body.payload })).json().id as string;
    const [cancelled, kept] = [await post(), await post()];
    assert.equal(fs.readdirSync(uploads).length, 2);
    await app.inject({ method: "POST", url: `/v1/jobs/${cancelled}/cancel`, headers });
    assert.equal(fs.readdirSync(uploads).length, 1, "the cancelled import's upload is gone");
    fs.writeFileSync(path.join(uploads, `${"ab".repeat(12)}.upload`), "staged, then the process died before queueing");
    await app.close();
    await new Promise((r) => setTimeout(r, 10));
    ({ services, app } = await start(true));
    const job = await services.queue.waitFor(kept, 30_000);
    assert.equal(job.state, "done", job.error ?? "");
    assert.deepEqual(fs.readdirSync(uploads), [], "the orphan was swept, the queued import ran and removed its own");
  } finally {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
