// Export of a stored dataset as the Hugging Face imagefolder layout, in a tar stream:
//   train/<item id>.<ext> …, train/metadata.jsonl, validation/…, test/…
// each metadata line {"file_name", "text" (the first caption, "" without), "captions" (all, left out
// without any), "reviewed"}, which is what `datasets.load_dataset("imagefolder")`, `captioner
// eval/train` and our import read (the import keeps `reviewed`, so drafts stay unreviewed). The
// tar is written as it is read (backpressure through tar-stream), one image in memory at a time.
import { Readable } from "node:stream";
import tar from "tar-stream";
import { type DatasetStore, SPLITS, type StoredItem } from "./store.js";

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };
const PAGE = 500;

/** The name an item's image has in the export: its id (never an uploaded name) and its format's extension. */
export function exportFileName(item: StoredItem): string {
  return `${item.id}.${EXTENSIONS[item.mediaType] ?? "bin"}`;
}

/** The dataset as a tar stream (checks that it exists first, so an unknown name throws before any byte is sent). */
export function exportImagefolder(store: DatasetStore, dataset: string): Readable {
  store.requireDataset(dataset);
  const pack = tar.pack();
  const add = (name: string, data: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (error) => (error ? reject(error) : resolve())));
  (async () => {
    for (const split of SPLITS) {
      const lines: string[] = [];
      let cursor: string | undefined;
      do {
        const page = store.listItems(dataset, { split, limit: PAGE, cursor });
        for (const item of page.items) {
          const file = exportFileName(item);
          await add(`${split}/${file}`, await store.readImage(item));
          const captions = item.captions.length > 0 ? { captions: item.captions } : {};
          lines.push(JSON.stringify({ file_name: file, text: item.captions[0] ?? "", ...captions, reviewed: item.reviewed }));
        }
        cursor = page.next ?? undefined;
      } while (cursor !== undefined);
      if (lines.length > 0) await add(`${split}/metadata.jsonl`, Buffer.from(`${lines.join("\n")}\n`));
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  return Readable.from(pack);
}
