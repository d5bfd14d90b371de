// The dynamic batcher on its own, driven with a fake model call: which requests share a call, the
// batch size cap, the bounded queue, withdrawal, drain, and failures kept to their own batch. Each
// fake image is one float (its id), and its fake caption names the model, the image and its prompt,
// so a request that got someone else's slice shows.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Caption, CaptionOptions } from "../../src/generation/captioner.js";
import { type BatchExecutor, type BatchReport, type BatcherOptions, DynamicBatcher } from "../../src/serving/batcher.js";
import { QueueFullError } from "../../src/serving/queue/types.js";

interface Call {
  model: string;
  images: number[];
  options: CaptionOptions;
}

/** The caption the fake model gives image `id` alone. */
const alone = (id: number, prompt = "", model = "m") => `${model}:${id}:${prompt}`;

/** A fake model call that records its calls; with `gated`, each call waits for `release()`. */
function fakeModel(opts: { gated?: boolean; fail?: (call: Call) => Error | undefined } = {}) {
  const calls: Call[] = [];
  const gates: (() => void)[] = [];
  const execute: BatchExecutor = async (model, pixels, count, options) => {
    const call: Call = { model, images: [...pixels], options };
    calls.push(call);
    if (opts.gated) await new Promise<void>((resolve) => gates.push(resolve));
    const error = opts.fail?.(call);
    if (error) throw error;
    const prompts = Array.isArray(options.prompt) ? options.prompt : new Array<string>(count).fill((options.prompt as string | undefined) ?? "");
    const captions: Caption[][] = call.images.map((id, i) => [{ text: alone(id, prompts[i], model), ids: [id] }]);
    return { captions, generatedTokens: 3 * count };
  };
  /** Lets the oldest waiting call finish (once it has started). */
  const release = async () => {
    while (gates.length === 0) await tick();
    gates.shift()!();
  };
  return { execute, calls, release };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const image = (...ids: number[]) => Float32Array.from(ids);
const texts = (captions: Caption[][]) => captions.map((list) => list.map((c) => c.text));
const activeTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

function batcherWith(execute: BatchExecutor, opts: Partial<BatcherOptions> = {}) {
  const batcher = new DynamicBatcher(execute, { batchSize: 8, windowMs: 50, maxDepth: 64, ...opts });
  const reports: BatchReport[] = [];
  batcher.onBatch((r) => reports.push(r));
  return { batcher, reports };
}

test("requests within the window share one model call, and each gets its own images' captions", async () => {
  const model = fakeModel();
  const { batcher, reports } = batcherWith(model.execute, { windowMs: 50 });
  const results = await Promise.all([
    batcher.submit("m", image(1), 1, { maxNewTokens: 5 }),
    batcher.submit("m", image(2, 3), 2, { maxNewTokens: 5, prompt: "a picture of" }),
    batcher.submit("m", image(4), 1, { maxNewTokens: 5 }),
  ]);
  assert.deepEqual(results.map(texts), [[[alone(1)]], [[alone(2, "a picture of")], [alone(3, "a picture of")]], [[alone(4)]]]);
  assert.equal(model.calls.length, 1);
  // Different prompts ride in one call as one prompt per image.
  assert.deepEqual(model.calls[0], { model: "m", images: [1, 2, 3, 4], options: { maxNewTokens: 5, prompt: ["", "a picture of", "a picture of", ""] } });
  assert.equal(reports.length, 1);
  const [{ seconds, ...report }] = reports as [BatchReport];
  assert.deepEqual(report, { model: "m", images: 4, requests: 3, generatedTokens: 12, failed: false });
  assert.ok(seconds >= 0);
});

test("without prompts the call gets no prompt list; a prompt list per request is refused", async () => {
  const model = fakeModel();
  const { batcher } = batcherWith(model.execute, { windowMs: 0 });
  assert.throws(() => batcher.submit("m", image(1, 2), 2, { prompt: ["a", "b"] }), TypeError);
  assert.equal(batcher.depth(), 0);
  await batcher.submit("m", image(1), 1, { numBeams: 2 });
  assert.deepEqual(model.calls[0]!.options, { numBeams: 2 });
});

test("different models or options never share a call; an undefined option is the same as an absent one", async () => {
  const model = fakeModel();
  const { batcher, reports } = batcherWith(model.execute, { windowMs: 50 });
  const results = await Promise.all([
    batcher.submit("m", image(1), 1, { numBeams: 3, maxNewTokens: 5 }),
    batcher.submit("m", image(2), 1, { maxNewTokens: 5, numBeams: 3, minNewTokens: undefined }),
    batcher.submit("other", image(3), 1, { numBeams: 3, maxNewTokens: 5 }),
    batcher.submit("m", image(4), 1, { numBeams: 2, maxNewTokens: 5 }),
  ]);
  assert.deepEqual(results.map(texts), [[[alone(1)]], [[alone(2)]], [[alone(3, "", "other")]], [[alone(4)]]]);
  assert.deepEqual(model.calls.map((c) => [c.model, c.images]).sort(), [["m", [1, 2]], ["m", [4]], ["other", [3]]]);
  assert.deepEqual(reports.map((r) => r.requests).sort(), [1, 1, 2]);
});

test("a request that arrives after its window closed goes into the next call", async () => {
  const model = fakeModel({ gated: true });
  const { batcher } = batcherWith(model.execute, { windowMs: 10 });
  const first = batcher.submit("m", image(1), 1, {});
  while (model.calls.length === 0) await tick(); // the window passed: the first call runs
  const second = batcher.submit("m", image(2), 1, {});
  await model.release();
  await model.release();
  assert.deepEqual([texts(await first), texts(await second)], [[[alone(1)]], [[alone(2)]]]);
  assert.deepEqual(model.calls.map((c) => c.images), [[1], [2]]);
});

test("batches never exceed the batch size", async () => {
  const model = fakeModel();
  const { batcher, reports } = batcherWith(model.execute, { windowMs: 250, batchSize: 2 });
  const responses = await Promise.all([1, 2, 3, 4, 5].map((id) => batcher.submit("m", image(id), 1, {})));
  responses.forEach((captions, i) => assert.deepEqual(texts(captions), [[alone(i + 1)]]));
  assert.ok(reports.every((r) => r.images <= 2), JSON.stringify(reports));
  assert.equal(reports.length, 3);
  // A request that does not fit the open batch's room starts the next batch; a full batch does not wait.
  const started = performance.now();
  const [small, large] = await Promise.all([batcher.submit("m", image(6), 1, {}), batcher.submit("m", image(7, 8), 2, {})]);
  assert.deepEqual([texts(small), texts(large)], [[[alone(6)]], [[alone(7)], [alone(8)]]]);
  assert.deepEqual(model.calls.slice(3).map((c) => c.images), [[6], [7, 8]]);
  assert.ok(performance.now() - started < 250 + 200, "the full batch [7, 8] ran without waiting for its window");
});

test("a batch that becomes due before its window ends leaves no window timer behind", async () => {
  const model = fakeModel();
  const { batcher } = batcherWith(model.execute, { windowMs: 60_000, batchSize: 1 });
  const before = activeTimeouts();
  // batchSize 1: the batch is full (due) at once, so the 60 s window must not keep running.
  const [[caption]] = await batcher.submit("m", image(1), 1, {});
  assert.equal(caption!.text, alone(1));
  assert.equal(activeTimeouts(), before);
});

test("a full queue refuses with QueueFullError and a Retry-After; queued requests still succeed", async () => {
  const model = fakeModel({ gated: true });
  const { batcher } = batcherWith(model.execute, { windowMs: 60_000, maxDepth: 2 });
  // Two batches waiting in their windows (different options): nothing ran yet, so the average batch
  // time is its 1 s start value and a new request would wait for both plus its own: 3 s.
  const first = [batcher.submit("m", image(1), 1, {}), batcher.submit("m", image(2), 1, { numBeams: 2 })];
  assert.equal(batcher.depth(), 2);
  assert.throws(
    () => batcher.submit("m", image(3), 1, {}),
    (e: unknown) => e instanceof QueueFullError && e.depth === 2 && e.maxDepth === 2 && e.retryAfterSeconds === 3 && /queue is full \(2 of 2/.test(e.message),
  );
  assert.equal(batcher.retryAfterSeconds(), 3);
  // A running request still counts.
  const drained = batcher.drain();
  while (model.calls.length === 0) await tick();
  assert.equal(batcher.depth(), 2);
  assert.throws(() => batcher.submit("m", image(3), 1, {}), QueueFullError);
  await model.release();
  await model.release();
  await drained;
  assert.deepEqual((await Promise.all(first)).map(texts), [[[alone(1)]], [[alone(2)]]]);
  const again = batcher.submit("m", image(3), 1, {});
  const drainedAgain = batcher.drain();
  await model.release();
  await drainedAgain;
  assert.deepEqual(texts(await again), [[alone(3)]], "accepted again once the queue drained");
});

test("Retry-After is the queued batches times the moving average of batch times, at least 1 s", async () => {
  const { batcher } = batcherWith(async (_model, _pixels, count) => (await sleep(30), { captions: Array.from({ length: count }, () => []), generatedTokens: 0 }), { windowMs: 0 });
  const threeQueued = () => [1, 2, 3].map((beams) => batcher.submit("m", image(beams), 1, { numBeams: beams }));
  let queued = threeQueued();
  assert.equal(batcher.retryAfterSeconds(), 4, "three queued batches and its own at the start value of 1 s each");
  await Promise.all(queued);
  for (let i = 0; i < 20; i++) await batcher.submit("m", image(i), 1, {});
  // 23 batches of ~0.03 s bring the average from 1 s to well under 0.25 s.
  queued = threeQueued();
  assert.equal(batcher.retryAfterSeconds(), 1);
  await Promise.all(queued);
});

test("a request withdrawn before its batch starts leaves the queue; the others are served", async () => {
  const model = fakeModel();
  const { batcher, reports } = batcherWith(model.execute, { windowMs: 200, batchSize: 8 });
  const controller = new AbortController();
  const withdrawn = batcher.submit("m", image(1), 1, {}, controller.signal);
  const kept = batcher.submit("m", image(2), 1, {});
  assert.equal(batcher.depth(), 2);
  controller.abort(new Error("timed out"));
  await assert.rejects(withdrawn, /timed out/);
  assert.equal(batcher.depth(), 1);
  const [[caption]] = await kept;
  assert.equal(caption!.text, alone(2));
  assert.deepEqual(reports.map((r) => [r.requests, r.images]), [[1, 1]]);
  // A batch left empty disappears: nothing runs for it.
  const lone = new AbortController();
  const gone = batcher.submit("m", image(3), 1, { numBeams: 2 }, lone.signal);
  lone.abort(new Error("gone"));
  await assert.rejects(gone, /gone/);
  assert.equal(batcher.depth(), 0);
  await batcher.drain();
  assert.equal(reports.length, 1);
  assert.deepEqual(model.calls.map((c) => c.images), [[2]]);
});

test("an abort once the batch runs does not withdraw the request: it finishes", async () => {
  const model = fakeModel({ gated: true });
  const { batcher } = batcherWith(model.execute, { windowMs: 0 });
  const controller = new AbortController();
  const running = batcher.submit("m", image(1), 1, {}, controller.signal);
  while (model.calls.length === 0) await tick();
  controller.abort(new Error("too late"));
  assert.equal(batcher.depth(), 1);
  await model.release();
  assert.deepEqual(texts(await running), [[alone(1)]]);
});

test("a request that cannot be batched fails every request of its batch, and the batcher keeps working", async () => {
  const model = fakeModel();
  const { batcher, reports } = batcherWith(model.execute, { windowMs: 100, batchSize: 8 });
  // Both wait in one batch window; a count of -1 cannot be made into the batch's prompt list.
  const results = await Promise.allSettled([batcher.submit("m", image(1), 1, {}), batcher.submit("m", new Float32Array(0), -1, {})]);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.ok((result as PromiseRejectedResult).reason instanceof RangeError, String((result as PromiseRejectedResult).reason));
  }
  assert.deepEqual(reports.map((r) => [r.requests, r.failed]), [[2, true]]);
  const [[again]] = await batcher.submit("m", image(1), 1, {});
  assert.equal(again!.text, alone(1), "the next batch runs normally");
});

test("a failing model call rejects only the requests of its own batch; a throwing listener changes nothing", async () => {
  const model = fakeModel({ fail: (call) => (call.options.numBeams === 2 ? new Error("out of memory") : undefined) });
  const { batcher, reports } = batcherWith(model.execute, { windowMs: 50 });
  batcher.onBatch(() => {
    throw new Error("broken metrics");
  });
  const [good, bad, alsoBad, alsoGood] = await Promise.allSettled([
    batcher.submit("m", image(1), 1, {}),
    batcher.submit("m", image(2), 1, { numBeams: 2 }),
    batcher.submit("m", image(3), 1, { numBeams: 2 }),
    batcher.submit("m", image(4), 1, {}),
  ]);
  assert.deepEqual([good, alsoGood].map((r) => r.status === "fulfilled" && texts(r.value)), [[[alone(1)]], [[alone(4)]]]);
  for (const r of [bad, alsoBad]) assert.match(String((r as PromiseRejectedResult).reason), /out of memory/);
  assert.deepEqual(reports.map((r) => [r.images, r.failed, r.generatedTokens]).sort(), [[2, false, 6], [2, true, 0]]);
  assert.deepEqual(texts(await batcher.submit("m", image(5), 1, { numBeams: 3 })), [[alone(5)]], "later batches still run");
});

test("drain runs waiting batches without waiting for their windows and resolves when idle", async () => {
  const model = fakeModel();
  const { batcher } = batcherWith(model.execute, { windowMs: 60_000 });
  await batcher.drain(); // idle: at once
  const before = activeTimeouts();
  const pending = [batcher.submit("m", image(1), 1, {}), batcher.submit("m", image(2), 1, { numBeams: 2 })];
  const started = performance.now();
  await batcher.drain();
  assert.ok(performance.now() - started < 1000, "both batches ran at once, neither waited for its 60 s window");
  assert.equal(batcher.depth(), 0);
  assert.equal(activeTimeouts(), before, "no window timer left behind");
  assert.deepEqual((await Promise.all(pending)).map(texts), [[[alone(1)]], [[alone(2)]]]);
  assert.equal(model.calls.length, 2);
});

test("admission holds a place before any work: the queue counts it, the next one is refused, submit and release give it back once", async () => {
  const model = fakeModel();
  const { batcher } = batcherWith(model.execute, { maxDepth: 2, windowMs: 10 });
  const a = batcher.admit();
  const b = batcher.admit();
  assert.equal(batcher.depth(), 2);
  assert.throws(() => batcher.admit(), QueueFullError);
  assert.throws(() => batcher.submit("m", image(9), 1, {}), QueueFullError, "an unadmitted submit sees the admitted requests");
  b.release();
  b.release();
  assert.equal(batcher.depth(), 1, "releasing twice frees one place");
  const captioned = batcher.submit("m", image(1), 1, {}, undefined, a);
  assert.equal(batcher.depth(), 1, "the admission became the queued request");
  a.release();
  assert.equal(batcher.depth(), 1, "a release after submit changes nothing");
  assert.deepEqual(texts(await captioned), [[alone(1)]]);
  await batcher.drain();
  assert.equal(batcher.depth(), 0);
});
