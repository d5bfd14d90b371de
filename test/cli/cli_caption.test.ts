// `captioner caption` and `captioner preprocess` as a user runs them, on the golden checkpoints:
// captions from the image files (decode + resize + model + generation) equal transformers'.
import test, { describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { assertClose, blipCaseDir, blipCases, readArray, readExpected, repoRoot } from "../helpers/golden.js";

const run = promisify(execFile);
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const captioner = (args: string[]) => run(process.execPath, [cli, ...args], { env: { ...process.env, HF_HUB_OFFLINE: "1" } });

for (const caseName of blipCases) {
  describe(`captioner caption: ${caseName}`, () => {
    const dir = blipCaseDir(caseName);
    const expected = readExpected(caseName);
    const generation = (name: string) => expected.generation.find((g: { name: string }) => g.name === name);

    test("every image file, as one batch, gets transformers' greedy caption", async () => {
      const files = expected.images.map((i: { file: string }) => path.join(dir, i.file));
      const { stdout } = await captioner(["caption", "--model", dir, "--threads", "1", "--json", ...files]);
      const doc = JSON.parse(stdout);
      assert.equal(doc.results.length, files.length);
      doc.results.forEach((r: { image: string; captions: { text: string; ids: number[] }[] }, i: number) => {
        const name = expected.images[i].name;
        const call = generation(`greedy_default__${name}`) ?? generation("greedy_default");
        assert.equal(r.image, files[i]);
        assert.equal(r.captions[0]!.text, call.decoded.fast_skip_special[0]);
        // Rows of a batch share transformers' padded width; the unbatched row is its prefix.
        assert.deepEqual(r.captions[0]!.ids.slice(0, call.output_ids[0].length), call.output_ids[0]);
      });
    });

    // The golden call's kwargs spelled as the CLI's flags, and its image files.
    const argsFor = (call: { images: string[]; prompt: string | null; generate_kwargs: Record<string, number | boolean> }) => [
      ...Object.entries(call.generate_kwargs).flatMap(([k, v]) => (v === true ? [`--${k.replaceAll("_", "-")}`] : [`--${k.replaceAll("_", "-")}`, String(v)])),
      ...(call.prompt ? ["--prompt", call.prompt] : []),
      ...call.images.map((name) => path.join(dir, expected.images.find((i: { name: string }) => i.name === name).file)),
    ];

    test("beam search flags and plain output (one caption per line)", async () => {
      for (const name of ["beam3_return3", "beam3_length_penalty_early_stop", "greedy_repetition_penalty", "greedy_no_repeat_ngram", "greedy_min_max_new_tokens"]) {
        const call = generation(name);
        const { stdout } = await captioner(["caption", "--model", dir, ...argsFor(call)]);
        assert.deepEqual(stdout.trimEnd().split("\n"), call.decoded.fast_skip_special, name);
      }
    });

    test("conditional prompts, with --json", async () => {
      for (const name of ["cond_greedy", "cond_greedy_upper", "cond_beam3"]) {
        const call = generation(name);
        const { stdout } = await captioner(["caption", "--model", dir, "--json", ...argsFor(call)]);
        assert.deepEqual(JSON.parse(stdout).results[0].captions[0].ids, call.output_ids[0], name);
      }
    });

    test("preprocess writes pixel_values equal to the processor's (abs 1e-6)", async () => {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "captioner-")), "pixels.bin");
      const image = expected.images.find((i: { name: string }) => i.name === "large_1000x700_jpeg");
      const { stdout } = await captioner(["preprocess", "--model", dir, "--out", out, path.join(dir, image.file)]);
      assert.deepEqual(JSON.parse(stdout), { shape: image.pixel_values.shape });
      const written = new Float32Array(new Uint8Array(fs.readFileSync(out)).buffer);
      assertClose(written, readArray(dir, image.pixel_values), 1e-6, "pixel_values");
    });
  });
}

test("a folder with only pytorch_model.bin captions like its safetensors twin", async () => {
  const source = blipCaseDir("legacy_files_24px");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-bin-only-"));
  for (const f of fs.readdirSync(source)) if (f !== "model.safetensors") fs.cpSync(path.join(source, f), path.join(dir, f), { recursive: true });
  const expected = readExpected("legacy_files_24px");
  const call = expected.generation.find((g: { name: string }) => g.name === "beam3_default");
  const { stdout } = await captioner(["caption", "--model", dir, "--num-beams", "3", "--json", path.join(dir, "images/rgb_square.png")]);
  assert.deepEqual(JSON.parse(stdout).results[0].captions[0].ids, call.output_ids[0]);
});

test("errors go to stderr with a non-zero exit", async () => {
  const dir = blipCaseDir("base_like_32px");
  const cases: [string[], RegExp][] = [
    [["caption", "--model", dir, "/nonexistent.png"], /cannot read image file/],
    [["caption", "--model", "/no/such/folder", path.join(dir, "images/rgb_square.png")], /neither an existing folder nor/],
    [["caption", "--model", dir, "--num-beams", "0", path.join(dir, "images/rgb_square.png")], /whole number ≥ 1/],
    [["caption", "--model", dir, "--num-beams", "2", "--num-return-sequences", "3", path.join(dir, "images/rgb_square.png")], /cannot exceed numBeams/],
    [["caption", "--model", dir, path.join(dir, "config.json")], /image/i],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(captioner(args), (e: { code: number; stderr: string; stdout: string }) => {
      assert.notEqual(e.code, 0);
      assert.match(e.stderr, message);
      assert.equal(e.stdout, "");
      return true;
    });
  }
});
