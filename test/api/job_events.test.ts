// GET /v1/jobs/{id}/events over real HTTP: server-sent `job` events (the GET /v1/jobs/{id} body) as a
// running job changes, in order, the last one the finished job exactly as GET answers it, then `end`
// and the stream closes; a finished job answers at once; the access rule and errors of GET /v1/jobs/{id}.
import test, { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { goldenImage, testApp, type TestApp } from "../helpers/app.js";

interface Event {
  event: string;
  data: any;
}

/** The events of a text/event-stream body (comments and `retry:` lines left out). */
function parseEvents(text: string): Event[] {
  return text
    .split("\n\n")
    .filter((block) => block.includes("data: "))
    .map((block) => {
      const lines = block.split("\n");
      const name = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
      return { event: name, data: JSON.parse(lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n")) };
    });
}

describe("job events (server-sent)", () => {
  let t: TestApp;
  let base: string;
  let admin: Record<string, string>;
  let user: Record<string, string>;
  before(async () => {
    t = await testApp();
    admin = { authorization: `Bearer ${t.services.keys.create("admin").key}` };
    user = { authorization: `Bearer ${t.services.keys.create("user").key}` };
    await t.app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  after(() => t.app.close());

  const submit = async (headers: Record<string, string>, n: number) => {
    const images = Array.from({ length: n }, (_, i) => goldenImage(i % 2 ? "rgb_square.png" : "gray_L.png").toString("base64"));
    const res = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", headers, payload: { images, options: { num_beams: 3, max_new_tokens: 12 } } });
    assert.equal(res.statusCode, 202, res.body);
    return res.json().id as string;
  };

  test("a running job: its changes in order, the last one as GET shows it, then end; the stream closes", async () => {
    const id = await submit(user, 6);
    const res = await fetch(`${base}/v1/jobs/${id}/events`, { headers: user });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    const events = parseEvents(await res.text()); // resolves only when the server closes the stream
    const jobs = events.filter((e) => e.event === "job").map((e) => e.data);
    assert.ok(jobs.length >= 2, `a queued or running state, then done: ${JSON.stringify(jobs.map((j) => [j.state, j.progress]))}`);
    for (let i = 1; i < jobs.length; i++) {
      assert.ok(jobs[i].progress >= jobs[i - 1].progress, "progress never goes back");
      assert.notDeepEqual(jobs[i], jobs[i - 1], "an event only when something changed");
    }
    const final = (await t.app.inject({ url: `/v1/jobs/${id}`, headers: user })).json();
    assert.equal(final.state, "done");
    assert.deepEqual(jobs.at(-1), final);
    assert.deepEqual(events.at(-1), { event: "end", data: { id, state: "done" } });
  });

  test("a finished job answers one event and ends; unknown and other callers' jobs are 404, no key 401", async () => {
    const id = await submit(user, 1);
    await t.services.queue.waitFor(id, 30_000);
    const res = await t.app.inject({ url: `/v1/jobs/${id}/events`, headers: admin });
    assert.equal(res.statusCode, 200);
    const events = parseEvents(res.body);
    assert.deepEqual(events.map((e) => e.event), ["job", "end"]);
    assert.deepEqual(events[0]!.data, (await t.app.inject({ url: `/v1/jobs/${id}`, headers: admin })).json());

    const missing = await t.app.inject({ url: "/v1/jobs/no-such-job/events", headers: admin });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, "job_not_found");
    const adminJob = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/reload", headers: admin });
    assert.equal(adminJob.statusCode, 202);
    assert.equal((await t.app.inject({ url: `/v1/jobs/${adminJob.json().id}/events`, headers: user })).statusCode, 404, "a user cannot follow an admin's job");
    const noKey = await t.app.inject({ url: `/v1/jobs/${id}/events` });
    assert.equal(noKey.statusCode, 401);
    await t.services.queue.waitFor(adminJob.json().id, 60_000);
  });
});
