// The decoder run-time state every family shares: per-image inputs follow their rows through beam
// reorders (expand, shuffle, drop, swap across images), the KV cache keeps rows with their caches,
// and the causal mask blocks exactly the future positions.
import test from "node:test";
import assert from "node:assert/strict";
import { ort } from "../../src/engine/runtime.js";
import { BLOCKED, causalBias, type Feeds, KvCache, PerImageInputs, selectRows } from "../../src/models/decoder_state.js";

/** Row r of a `[rows, 2]` tensor whose row for image i holds (10·i, 10·i + 1). */
const imageOfRows = (t: ort.Tensor) => Array.from({ length: t.dims[0]! }, (_, r) => (t.data as Float32Array)[r * 2]! / 10);

test("per-image inputs follow their rows through expansion, shuffles, dropped images and swaps", () => {
  const images = 3;
  const x = new ort.Tensor("float32", Float32Array.from({ length: images * 2 }, (_, i) => Math.floor(i / 2) * 10 + (i % 2)), [images, 2]);
  const inputs = new PerImageInputs({ x }, images);
  let expected = [0, 1, 2];
  for (const order of [[0, 0, 0, 1, 1, 1, 2, 2, 2], [2, 1, 0, 5, 3, 4, 8, 8, 6], [3, 4, 5, 6, 7, 8], [1, 0, 2, 4, 3, 5], [3, 4, 5], [2, 0]]) {
    expected = order.map((r) => expected[r]!);
    inputs.reorder(order);
    const feeds: Feeds = {};
    inputs.feed(feeds);
    assert.deepEqual(imageOfRows(feeds.x!), expected, `after ${JSON.stringify(order)}`);
    assert.equal(inputs.rows, expected.length);
  }
});

test("the KV cache grows by each step's present tensors and keeps each row's history through reorders", () => {
  const names = { pastKey: (i: number) => `pk${i}`, pastValue: (i: number) => `pv${i}`, presentKey: (i: number) => `k${i}`, presentValue: (i: number) => `v${i}` };
  const cache = new KvCache(names, 1, 2, 1, 1);
  const feeds: Feeds = {};
  cache.feed(feeds);
  assert.deepEqual(feeds.pk0!.dims, [2, 1, 0, 1], "starts empty");
  // A step's grown cache: row r holds [r·10, r·10 + 1] over two positions.
  const grown = new ort.Tensor("float32", Float32Array.from([0, 1, 10, 11]), [2, 1, 2, 1]);
  cache.update({ k0: grown, v0: grown }, 2);
  assert.equal(cache.length, 2);
  cache.reorder([1, 1, 0]);
  const after: Feeds = {};
  cache.feed(after);
  assert.deepEqual(after.pk0!.dims, [3, 1, 2, 1]);
  assert.deepEqual(Array.from(after.pk0!.data as Float32Array), [10, 11, 10, 11, 0, 1]);
});

test("selectRows returns the same tensor when nothing moves, and copies rows otherwise", () => {
  const t = new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [2, 2]);
  assert.equal(selectRows(t, [0, 1]), t);
  assert.deepEqual(Array.from(selectRows(t, [1, 0, 1]).data as Float32Array), [3, 4, 1, 2, 3, 4]);
});

test("causal bias: new token j sees every past position and new positions ≤ j", () => {
  const bias = causalBias(1, 3, 2);
  assert.deepEqual(bias.dims, [1, 1, 3, 5]);
  const rows = Array.from({ length: 3 }, (_, j) => Array.from((bias.data as Float32Array).subarray(j * 5, (j + 1) * 5), (v) => (v === BLOCKED ? "x" : "o")).join(""));
  assert.deepEqual(rows, ["oooxx", "oooox", "ooooo"]);
});
