// The fine-tuning workflow of issue 11 end to end over HTTP, as its "Done when" states it: an admin
// creates a dataset, a contributor adds shapes images (a user and an anonymous client are refused),
// an admin drafts captions for the uncaptioned ones, the contributor reviews them, the admin trains a
// few steps, evaluates, sees the version with its metrics, is refused by the gate, promotes with an
// override, and the model name then captions with the version.
import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Captioner } from "../../src/generation/captioner.js";
import { multipart, testApp } from "../helpers/app.js";
import { shapesRoot } from "../helpers/shapes.js";

interface Shape {
  file_name: string;
  captions: string[];
}

const shapes = (split: string, n: number): Shape[] =>
  fs.readFileSync(path.join(shapesRoot, split, "metadata.jsonl"), "utf8").trim().split("\n").slice(0, n).map((l) => JSON.parse(l) as Shape);

test("dataset → contributor items → draft → review → train → eval → version → gate → override → served", { timeout: 240_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-workflow-"));
  const t = await testApp({ dataDir });
  const key = (role: "admin" | "contributor" | "user") => ({ authorization: `Bearer ${t.services.keys.create(role).key}` });
  const [admin, contributor, user] = [key("admin"), key("contributor"), key("user")];
  const finished = async (id: string) => {
    await t.services.queue.waitFor(id, 180_000);
    return (await t.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: admin })).json();
  };
  try {
    let res = await t.app.inject({ method: "POST", url: "/v1/datasets", headers: admin, payload: { name: "shapes" } });
    assert.equal(res.statusCode, 201, res.body);

    // Items: 6 train images with their captions, 2 train images without (drafted below), 3 validation images.
    const add = (headers: Record<string, string>, split: string, s: Shape, captions: readonly string[]) => {
      const body = multipart([
        { name: "image", file: { data: fs.readFileSync(path.join(shapesRoot, split, s.file_name)), filename: s.file_name, type: "image/png" } },
        ...captions.map((value) => ({ name: "caption", value })),
        { name: "split", value: split },
        // Captions people wrote are marked reviewed as they are added; drafts are not.
        ...(captions.length > 0 ? [{ name: "reviewed", value: "true" }] : []),
      ]);
      return t.app.inject({ method: "POST", url: "/v1/datasets/shapes/items", headers: { ...headers, ...body.headers }, payload: body.payload });
    };
    const train = shapes("train", 8);
    const refusedUser = await add(user, "train", train[0]!, train[0]!.captions);
    assert.equal(refusedUser.statusCode, 403, refusedUser.body);
    const refusedAnonymous = await add({}, "train", train[0]!, train[0]!.captions);
    assert.equal(refusedAnonymous.statusCode, 401, refusedAnonymous.body);
    for (const [i, s] of train.entries()) {
      res = await add(contributor, "train", s, i < 6 ? s.captions : []);
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().reviewed, i < 6);
    }
    for (const s of shapes("validation", 3)) assert.equal((await add(contributor, "validation", s, s.captions)).statusCode, 201);

    // Draft the two uncaptioned items; they come back unreviewed.
    res = await t.app.inject({ method: "POST", url: "/v1/admin/jobs/draft", headers: admin, payload: { dataset: "shapes", split: "train", options: { max_new_tokens: 12 } } });
    assert.equal(res.statusCode, 202, res.body);
    const draft = await finished(res.json().id);
    assert.equal(draft.state, "done", draft.error);
    assert.equal(draft.result.drafted, 2);
    res = await t.app.inject({ method: "GET", url: "/v1/datasets/shapes/items?reviewed=false&captioned=true", headers: contributor });
    const queue = res.json().items as { id: string; captions: string[] }[];
    assert.equal(queue.length, 2);
    assert.ok(queue.every((item) => item.captions.length === 1 && item.captions[0]!.length > 0));

    // The contributor accepts one draft and edits the other; the review queue is then empty.
    res = await t.app.inject({ method: "POST", url: `/v1/datasets/shapes/items/${queue[0]!.id}/review`, headers: contributor, payload: { action: "accept" } });
    assert.equal(res.statusCode, 200, res.body);
    res = await t.app.inject({ method: "POST", url: `/v1/datasets/shapes/items/${queue[1]!.id}/review`, headers: contributor, payload: { action: "edit", captions: [train[7]!.captions[0]!] } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().reviewed, res.json().captions], [true, [train[7]!.captions[0]]]);
    res = await t.app.inject({ method: "GET", url: "/v1/datasets/shapes/items?reviewed=false&captioned=true", headers: contributor });
    assert.equal(res.json().items.length, 0);

    // Train a few steps on the 8 reviewed train items.
    res = await t.app.inject({
      method: "POST",
      url: "/v1/admin/jobs/train",
      headers: admin,
      payload: { dataset: "shapes", model: "blip", settings: { epochs: 2, batch_size: 8, lr: 0.05, warmup_steps: 1, max_new_tokens: 8 } },
    });
    assert.equal(res.statusCode, 202, res.body);
    const trained = await finished(res.json().id);
    assert.equal(trained.state, "done", trained.error);
    const version = trained.result.id as string;

    // Evaluate the version on the validation split: the scores of its own captions.
    res = await t.app.inject({ method: "POST", url: "/v1/admin/jobs/eval", headers: admin, payload: { dataset: "shapes", model: version, split: "validation", options: { max_new_tokens: 8 } } });
    assert.equal(res.statusCode, 202, res.body);
    const evaluated = await finished(res.json().id);
    assert.equal(evaluated.state, "done", evaluated.error);
    assert.equal(evaluated.result.n, 3);
    assert.equal(typeof evaluated.result.coco.CIDEr, "number");

    // The version is listed with its metrics and latency, not serving yet.
    res = await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: admin });
    assert.equal(res.statusCode, 200);
    const listed = res.json().versions.find((v: { id: string }) => v.id === version);
    assert.deepEqual([listed.dataset, listed.serving, listed.snapshot.trainItems, listed.snapshot.validationItems], ["shapes", false, 8, 3]);
    assert.equal(typeof listed.validation.after.CIDEr, "number");
    assert.ok(listed.latency.candidateMs > 0 && listed.latency.servingMs > 0);

    // The gate: refused unless the version beats the serving model on CIDEr-D within the latency budget.
    res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version } });
    if (res.statusCode === 409) {
      assert.equal(res.json().error.code, "gate_refused");
      assert.ok(res.json().error.reasons.length >= 1);
      res = await t.app.inject({ method: "POST", url: "/v1/admin/models/blip/promote", headers: admin, payload: { version, override_reason: "workflow test" } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().version.overrideReason, "workflow test");
    } else {
      // Two training steps rarely beat the base, but when they do the gate lets the version through.
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().gate.passed, true);
    }
    res = await t.app.inject({ method: "GET", url: "/v1/admin/models/blip/versions", headers: admin });
    assert.equal(res.json().serving, version);

    // Captions now come from the version's folder.
    const image = fs.readFileSync(path.join(shapesRoot, "validation", shapes("validation", 1)[0]!.file_name));
    res = await t.app.inject({ method: "POST", url: "/v1/captions", headers: user, payload: { images: [image.toString("base64")], options: { max_new_tokens: 8 } } });
    assert.equal(res.statusCode, 200, res.body);
    const direct = await Captioner.load(path.join(dataDir, "models", "blip", version, "model"));
    try {
      assert.equal(res.json().results[0].captions[0].text, (await direct.caption([image], { maxNewTokens: 8 }))[0]![0]!.text);
    } finally {
      await direct.release();
    }
  } finally {
    await t.app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
