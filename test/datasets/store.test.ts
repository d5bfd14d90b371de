// The dataset store: rows in the server database, content-addressed image files written durably,
// pagination, edits, deletion that keeps files other items still use.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { DatasetStore, StoreError } from "../../src/datasets/store.js";
import { openDatabase } from "../../src/serving/db.js";
import { goldenImage } from "../helpers/app.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-datasets-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = path.join(root, String(++n));
  const db = openDatabase(path.join(dir, "captioner.db"));
  return { db, store: new DatasetStore(db, path.join(dir, "datasets")), dir };
};
const kind = (k: string) => (e: unknown) => e instanceof StoreError && e.kind === k;
const png = goldenImage("rgb_square.png");
const gray = goldenImage("gray_L.png");

test("datasets: names are checked, duplicates refused, listed with item counts", async () => {
  const { db, store } = fresh();
  try {
    assert.throws(() => store.createDataset("../etc"), kind("invalid_name"));
    assert.throws(() => store.createDataset(""), kind("invalid_name"));
    store.createDataset("pets");
    assert.throws(() => store.createDataset("pets"), kind("dataset_exists"));
    store.createDataset("cars");
    await store.addItem("pets", { image: png, split: "train", captions: ["a red square"] });
    assert.deepEqual(store.listDatasets().map((d) => [d.name, d.items]), [["cars", 0], ["pets", 1]]);
    await assert.rejects(store.addItem("nope", { image: png, split: "train" }), kind("unknown_dataset"));
  } finally {
    db.close();
  }
});

test("an item's image is stored under its SHA-256, byte for byte; no temporary file is left", async () => {
  const { db, store, dir } = fresh();
  try {
    store.createDataset("pets");
    const item = await store.addItem("pets", { image: png, split: "validation", captions: ["a", "b"] });
    const sha = createHash("sha256").update(png).digest("hex");
    assert.equal(item.imageSha256, sha);
    assert.equal(item.mediaType, "image/png");
    assert.deepEqual([item.split, item.captions, item.reviewed], ["validation", ["a", "b"], false]);
    assert.equal(store.imageFile(sha), path.join(dir, "datasets", "images", sha.slice(0, 2), sha));
    assert.ok((await store.readImage(item)).equals(png));
    assert.deepEqual(fs.readdirSync(path.join(dir, "datasets", "tmp")), []);
    await assert.rejects(store.addItem("pets", { image: Buffer.from("hello"), split: "train" }), kind("not_an_image"));
  } finally {
    db.close();
  }
});

test("items page by cursor, filtered by split and reviewed", async () => {
  const { db, store } = fresh();
  try {
    store.createDataset("pets");
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await store.addItem("pets", { image: i % 2 ? png : gray, split: i < 5 ? "train" : "test", captions: [`c${i}`] })).id);
    store.updateItem("pets", ids[1]!, { reviewed: true });
    store.updateItem("pets", ids[3]!, { reviewed: true });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = store.listItems("pets", { limit: 3, cursor });
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next ?? undefined;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, ids);
    assert.equal(pages, 3);
    assert.deepEqual(store.listItems("pets", { split: "test" }).items.map((i) => i.id), ids.slice(5));
    assert.deepEqual(store.listItems("pets", { reviewed: true }).items.map((i) => i.id), [ids[1], ids[3]]);
    assert.deepEqual(store.listItems("pets", { reviewed: false, split: "train" }).items.map((i) => i.id), [ids[0], ids[2], ids[4]]);
    const first = store.listItems("pets", { limit: 2 });
    assert.deepEqual(store.listItems("pets", { limit: 2, cursor: first.next!, reviewed: true }).items.map((i) => i.id), [ids[3]]);
    assert.throws(() => store.listItems("pets", { cursor: "garbage" }), kind("invalid_cursor"));
  } finally {
    db.close();
  }
});

test("edits change captions, review and split; delete keeps bytes another item shares", async () => {
  const { db, store } = fresh();
  try {
    store.createDataset("a");
    store.createDataset("b");
    const one = await store.addItem("a", { image: png, split: "train" });
    const two = await store.addItem("b", { image: png, split: "train" });
    const edited = store.updateItem("a", one.id, { captions: ["a red square", "red"], reviewed: true, split: "test" });
    assert.deepEqual([edited.captions, edited.reviewed, edited.split], [["a red square", "red"], true, "test"]);
    assert.deepEqual(store.updateItem("a", one.id, { reviewed: false }).captions, ["a red square", "red"]);
    assert.throws(() => store.getItem("b", one.id), kind("unknown_item"));
    assert.throws(() => store.getItem("nope", one.id), kind("unknown_dataset"));
    store.deleteItem("a", one.id);
    assert.throws(() => store.getItem("a", one.id), kind("unknown_item"));
    assert.ok((await store.readImage(two)).equals(png), "the other dataset's item keeps the shared file");
    store.deleteItem("b", two.id);
    assert.equal(fs.existsSync(store.imageFile(two.imageSha256)), false);
    // The same bytes again after the file was removed: written anew.
    const three = await store.addItem("a", { image: png, split: "train" });
    assert.ok((await store.readImage(three)).equals(png));
  } finally {
    db.close();
  }
});

test("deleting the last item of an image while the same bytes are being added keeps the new item whole", async () => {
  const { db, store } = fresh();
  try {
    store.createDataset("a");
    for (let round = 0; round < 20; round++) {
      const old = await store.addItem("a", { image: png, split: "train" });
      const adding = store.addItem("a", { image: png, split: "train" });
      // Let the add get a varying distance into its file write before the delete runs.
      for (let i = 0; i < round; i++) await new Promise((r) => setImmediate(r));
      store.deleteItem("a", old.id);
      const added = await adding;
      assert.ok((await store.readImage(added)).equals(png), `round ${round}`);
      store.deleteItem("a", added.id);
    }
  } finally {
    db.close();
  }
});
