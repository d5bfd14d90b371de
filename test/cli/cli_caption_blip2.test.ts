// `captioner caption --json` on the BLIP-2 (OPT) golden folders, as a user runs it: the image files
// decoded and preprocessed by captioner, the prompt tokenized by its byte-level BPE, and ids, text
// (transformers' fast batch_decode, U+FFFD for broken UTF-8) and beam scores equal to transformers'.
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { assertClose, blip2CaseDir, blip2Cases, readBlip2Expected, repoRoot } from "../helpers/golden.js";

const run = promisify(execFile);
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const captioner = (args: string[]) => run(process.execPath, [cli, ...args], { env: { ...process.env, HF_HUB_OFFLINE: "1" } });

interface Call { name: string; images: string[]; prompt: string[] | null; generate_kwargs: Record<string, number>; output_ids: number[][]; decoded: { fast_skip_special: string[] }; sequences_scores?: number[] }
interface Result { image: string; captions: { text: string; ids: number[]; score?: number }[] }

for (const caseName of blip2Cases) {
  describe(`captioner caption --json: BLIP-2 ${caseName}`, () => {
    const dir = blip2CaseDir(caseName);
    const expected = readBlip2Expected(caseName);
    const call = (name: string): Call => expected.generation.find((g: Call) => g.name === name);
    const file = (name: string) => path.join(dir, expected.images.find((i: { name: string }) => i.name === name).file);
    const caption = async (args: string[]): Promise<Result[]> => JSON.parse((await captioner(["caption", "--model", dir, "--threads", "1", "--json", ...args])).stdout).results;

    test("every image file, as one batch, gets transformers' greedy caption (ids and text)", async () => {
      const names: string[] = expected.images.map((i: { name: string }) => i.name);
      const results = await caption(names.map(file));
      results.forEach((r, i) => {
        const golden = call(`greedy_default__${names[i]}`) ?? call("greedy_default");
        assert.equal(r.image, file(names[i]!));
        assert.equal(r.captions[0]!.text, golden.decoded.fast_skip_special[0], names[i]);
        // Rows of a batch share a padded width; the unbatched row is its prefix.
        assert.deepEqual(r.captions[0]!.ids.slice(0, golden.output_ids[0]!.length), golden.output_ids[0], names[i]);
      });
    });

    test("plain output: one line per image, the caption stripped as BLIP-2's model card does (the --json text stays exact)", async () => {
      const c = call("batch3_greedy_default");
      const { stdout } = await captioner(["caption", "--model", dir, "--threads", "1", ...c.images.map(file)]);
      const expectedLines = c.decoded.fast_skip_special.map((t) => t.trim());
      assert.equal(stdout, expectedLines.map((t) => `${t}\n`).join(""));
    });

    // Each call with its kwargs as the CLI's flags; one prompt for all images (the golden calls repeat it).
    // batch3_beam3 holds beam3's row (rgb_square) too.
    for (const name of ["batch3_beam3", "cond_beam3"]) {
      test(`${name}: ids, text and beam scores`, async () => {
        const c = call(name);
        const flags = Object.entries(c.generate_kwargs).flatMap(([k, v]) => [`--${k.replaceAll("_", "-")}`, String(v)]);
        const results = await caption([...flags, ...(c.prompt ? ["--prompt", c.prompt[0]!] : []), ...c.images.map(file)]);
        const rows = results.map((r) => r.captions[0]!);
        assert.deepEqual(rows.map((r) => r.ids), c.output_ids);
        assert.deepEqual(rows.map((r) => r.text), c.decoded.fast_skip_special);
        if (c.sequences_scores) assertClose(rows.map((r) => r.score!), c.sequences_scores, 1e-4, "sequences_scores");
      });
    }
  });
}
