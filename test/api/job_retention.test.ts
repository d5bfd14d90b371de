// Finished caption jobs through the API: the images go when the job ends, the captions stay
// readable for limits.jobRetentionSeconds, then the job is gone (404).
import assert from "node:assert/strict";
import { test } from "node:test";
import { goldenImage, testApp } from "../helpers/app.js";

test("a caption job's images are deleted when it ends; after the retention the job is 404", async () => {
  const t = await testApp({ limits: { jobRetentionSeconds: 1 } });
  try {
    const image = goldenImage("rgb_square.png").toString("base64");
    const created = await t.app.inject({ method: "POST", url: "/v1/jobs/captions", payload: { images: [image, image], options: { max_new_tokens: 4 } } });
    assert.equal(created.statusCode, 202, created.body);
    const id = created.json().id as string;
    const stored = () => t.services.db.prepare("SELECT payload, input FROM jobs WHERE id = ?").get(id) as { payload: string; input: string | null } | undefined;
    let job;
    for (let i = 0; i < 200 && !["done", "failed"].includes((job = (await t.app.inject({ url: `/v1/jobs/${id}` })).json()).state); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(job.state, "done", job.error);
    assert.equal(job.result.captions.length, 2, "the result is readable");
    const row = stored();
    assert.equal(row?.input, null, "the images are deleted");
    assert.ok(!row.payload.includes(image.slice(0, 40)), "and not left in the payload");
    // The retention is 1 s; the sweep runs every half of it.
    const deadline = Date.now() + 5000;
    while (stored() !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const gone = await t.app.inject({ url: `/v1/jobs/${id}` });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().error.code, "job_not_found");
  } finally {
    await t.app.close();
  }
});
