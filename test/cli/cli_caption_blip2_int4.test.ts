// `captioner caption --quantize int4 --json` on a BLIP-2 golden folder: the flag reaches the loader
// (the captions are the library's int4 ones, and not all equal transformers' fp32 ones) and the
// output keeps BLIP-2's contract. How close int4 is to fp32 is test/models/blip2_int4.test.ts's job.
import test from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { Captioner } from "../../src/generation/captioner.js";
import { blip2CaseDir, readBlip2Expected, repoRoot } from "../helpers/golden.js";

const run = promisify(execFile);
const cli = path.join(repoRoot, "dist/src/cli/main.js");

test("caption --quantize int4 --json: the library's int4 captions, `</s>` first, at most 19 ids, some unlike fp32", async () => {
  const dir = blip2CaseDir("opt_28px_q8");
  const expected = readBlip2Expected("opt_28px_q8");
  const names: string[] = expected.images.map((i: { name: string }) => i.name);
  const files = expected.images.map((i: { file: string }) => path.join(dir, i.file));
  const { stdout } = await run(process.execPath, [cli, "caption", "--model", dir, "--threads", "1", "--quantize", "int4", "--json", ...files], { env: { ...process.env, HF_HUB_OFFLINE: "1" } });
  const results: { image: string; captions: { text: string; ids: number[] }[] }[] = JSON.parse(stdout).results;
  assert.deepEqual(results.map((r) => r.image), files);

  const library = await Captioner.load(dir, { threads: 1, lowering: { fused: true, quantize: "int4" } });
  const own = await library.caption(files.map((f: string) => new Uint8Array(fs.readFileSync(f))));
  await library.release();

  const vocab = Object.keys(JSON.parse(fs.readFileSync(path.join(dir, "vocab.json"), "utf8"))).length;
  let unlikeFp32 = 0;
  results.forEach((r, i) => {
    const { ids, text } = r.captions[0]!;
    assert.deepEqual(ids, own[i]![0]!.ids, names[i]);
    assert.equal(text, own[i]![0]!.text, names[i]);
    assert.equal(ids[0], 2, `${names[i]}: BLIP-2 output starts with </s>`);
    assert.ok(ids.length <= 19 && ids.every((id) => id >= 0 && id < vocab), `${names[i]}: ${ids}`);
    const fp32 = expected.generation.find((g: { name: string }) => g.name === `greedy_default__${names[i]}`) ?? expected.generation.find((g: { name: string }) => g.name === "greedy_default");
    if (ids.join() !== fp32.output_ids[0].join()) unlikeFp32++;
  });
  assert.ok(unlikeFp32 > 0, "int4 must change some caption of this tiny model (else --quantize was not applied)");
});
