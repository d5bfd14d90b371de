// The import's building blocks without the server: the row rules (splits, captions, CSV), the zip
// bounds checked before anything is inflated (entries, total size, an entry that inflates past its
// declared size), and tar archives with long names.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { zipSync } from "fflate";
import tar from "tar-stream";
import { ArchiveError, openTar, openZip } from "../../src/datasets/archive.js";
import { captionsOf, csvRows, jsonlRows, RowError, splitFromPath, splitOfRow } from "../../src/datasets/metadata.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-import-unit-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

describe("row rules", () => {
  test("splits come from folders (with datasets' aliases) and, for data files, from the file name", () => {
    assert.equal(splitFromPath("train/0001.png"), "train");
    assert.equal(splitFromPath("data/val/metadata.jsonl"), "validation");
    assert.equal(splitFromPath("dev/x/y.png"), "validation");
    assert.equal(splitFromPath("testing/a.jpg"), "test");
    assert.equal(splitFromPath("test_photo.png"), undefined, "an image's own name says nothing");
    assert.equal(splitFromPath("data/test-00000-of-00001.parquet", true), "test");
    assert.equal(splitFromPath("data/validation.parquet", true), "validation");
    assert.equal(splitFromPath("data/shard-0.parquet", true), undefined);
    assert.equal(splitOfRow({ split: "Valid" }), "validation");
    assert.equal(splitOfRow({ split: "" }), undefined);
    assert.throws(() => splitOfRow({ split: "holdout" }), RowError);
  });

  test("captions: the captions list, else text, caption and caption_N in order; blanks dropped; limits", () => {
    assert.deepEqual(captionsOf({ text: "a", captions: ["b", "c"] }), ["b", "c"]);
    assert.deepEqual(captionsOf({ caption_10: "k", caption_2: "c", text: " a ", caption: "b" }), ["a", "b", "c", "k"]);
    assert.deepEqual(captionsOf({ captions: '["x", "y"]' }), ["x", "y"]);
    assert.deepEqual(captionsOf({ captions: "just one" }), ["just one"]);
    assert.deepEqual(captionsOf({ text: "", file_name: "a.png" }), []);
    assert.throws(() => captionsOf({ captions: [1, 2] }), /not a string/);
    assert.throws(() => captionsOf({ captions: Array.from({ length: 33 }, (_, i) => `c${i}`) }), /limit is 32/);
    assert.throws(() => captionsOf({ text: "x".repeat(2001) }), /2001 characters/);
  });

  test("metadata.csv: quotes, commas, newlines inside quotes, CRLF, a BOM, rows of the wrong width", () => {
    const text = '\uFEFFfile_name,text\r\na.png,"one, two"\r\nb.png,"line\nbreak ""quoted"""\r\n\r\nc.png\r\nd.png,last';
    const rows = csvRows(text, "metadata.csv");
    assert.deepEqual(rows, [
      { at: "metadata.csv line 2", row: { file_name: "a.png", text: "one, two" } },
      { at: "metadata.csv line 3", row: { file_name: "b.png", text: 'line\nbreak "quoted"' } },
      { at: "metadata.csv line 6", error: "1 fields where the header has 2" },
      { at: "metadata.csv line 7", row: { file_name: "d.png", text: "last" } },
    ]);
    assert.deepEqual(jsonlRows('{"file_name": "a.png"}\n\n[1]\n{bad', "m.jsonl").map((r) => r.at + (r.error ? " !" : "")), ["m.jsonl line 1", "m.jsonl line 3 !", "m.jsonl line 4 !"]);
  });
});

describe("archives", () => {
  test("zip bounds are checked from the central directory: entries and unpacked size (a zip bomb is refused unopened)", async () => {
    const bomb = write("bomb.zip", zipSync({ "a.png": new Uint8Array(2_000_000), "b.png": new Uint8Array(10) }, { level: 9 }));
    assert.ok(fs.statSync(bomb).size < 10_000, "2 MB of zeros compress to a few KB");
    await assert.rejects(openZip(bomb, { maxEntries: 10, maxUncompressedBytes: 1_000_000 }), (e: Error) => e instanceof ArchiveError && /unpack to 2000010 bytes; the limit is 1000000/.test(e.message));
    await assert.rejects(openZip(bomb, { maxEntries: 1, maxUncompressedBytes: 1e9 }), /2 entries; the limit is 1/);
    const tree = await openZip(bomb, { maxEntries: 10, maxUncompressedBytes: 3_000_000 });
    await assert.rejects(tree.read(tree.files[0]!, 1000), /2000000 bytes, more than the 1000-byte limit/);
    assert.equal((await tree.read(tree.files[1]!, 1000)).length, 10);
    await tree.close();
  });

  test("an entry that inflates past the size its directory declares is refused as damaged, the others still read", async () => {
    const bytes = Buffer.from(zipSync({ "liar.png": new Uint8Array(50_000), "ok.png": new Uint8Array([1, 2, 3]) }, { level: 9 }));
    // Declare 100 bytes for liar.png in its local header (offset 22) and its central directory record (offset 24).
    const local = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt32LE(100, local + 22);
    bytes.writeUInt32LE(100, central + 24);
    const tree = await openZip(write("liar.zip", bytes));
    assert.equal(tree.files[0]!.size, 100);
    await assert.rejects(tree.read(tree.files[0]!, 1_000_000), (e: Error) => e instanceof ArchiveError && /damaged/.test(e.message));
    assert.deepEqual([...(await tree.read(tree.files[1]!, 1000))], [1, 2, 3]);
    await tree.close();
  });

  test("not a zip, or cut short: one clear error", async () => {
    await assert.rejects(openZip(write("text.zip", Buffer.from("hello"))), /not a readable zip archive/);
    const cut = zipSync({ "a.png": new Uint8Array(100) }).subarray(0, 50);
    await assert.rejects(openZip(write("cut.zip", cut)), ArchiveError);
  });

  test("tar: long names (pax), folders skipped, unsafe names flagged, files read by offset", async () => {
    const pack = tar.pack();
    const long = `train/${"x".repeat(150)}.png`;
    pack.entry({ name: "train/", type: "directory" });
    pack.entry({ name: long }, Buffer.from("long"));
    pack.entry({ name: "train/metadata.jsonl" }, Buffer.from("{}\n"));
    pack.entry({ name: "../up.png" }, Buffer.from("up"));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const tree = await openTar(write("a.tar", Buffer.concat(chunks)));
    assert.deepEqual(tree.files.map((f) => [f.path, f.size, f.problem !== undefined]), [[long, 4, false], ["train/metadata.jsonl", 3, false], ["../up.png", 2, true]]);
    assert.equal((await tree.read(tree.files[0]!, 100)).toString(), "long");
    assert.equal((await tree.read(tree.files[1]!, 100)).toString(), "{}\n");
    await assert.rejects(tree.read(tree.files[2]!, 100), /unsafe entry name/);
    await tree.close();
    const damaged = Buffer.concat(chunks);
    damaged[0] ^= 0xff;
    await assert.rejects(openTar(write("bad.tar", damaged)), /bad header checksum/);
  });
});
