// The image cache: the same rows from memory and from its file, the file removed on release.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildImageCache } from "../../src/training/image_cache.js";

const rowsOf = (start: number, end: number) => Float32Array.from({ length: (end - start) * 3 }, (_, i) => start * 3 + i + 0.5);

for (const memoryBytes of [1 << 20, 16]) {
  test(`rows gathered by index (${memoryBytes > 16 ? "in memory" : "from a file"})`, async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "captioner-cache-")), "sub", "rows.f32");
    const done: number[] = [];
    const cache = await buildImageCache(5, [3], async (a, b) => rowsOf(a, b), { chunk: 2, memoryBytes, file, onProgress: (n) => done.push(n) });
    assert.equal(cache.onDisk, memoryBytes === 16);
    assert.deepEqual([cache.rowShape, cache.rowLength], [[3], 3]);
    assert.deepEqual(done, [2, 4, 5]);
    assert.deepEqual(cache.rows([4, 0, 4]), Float32Array.from([12.5, 13.5, 14.5, 0.5, 1.5, 2.5, 12.5, 13.5, 14.5]));
    cache.release();
    assert.equal(fs.existsSync(file), false);
  });
}

test("a failing chunk removes the file", async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "captioner-cache-")), "rows.f32");
  await assert.rejects(buildImageCache(4, [3], async (a) => (a === 2 ? Promise.reject(new Error("bad image")) : rowsOf(a, a + 2)), { chunk: 2, memoryBytes: 0, file }), /bad image/);
  assert.equal(fs.existsSync(file), false);
});
