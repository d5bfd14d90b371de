// The `captioner` entry imports only the sub-command being run; help and unknown names still see them all.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
const COMMANDS = ["caption", "describe", "bench", "eval", "metrics", "preprocess", "pull", "serve", "train", "keys", "worker"];

test("captioner --help lists every sub-command", () => {
  const r = run("--help");
  assert.equal(r.status, 0, r.stderr);
  for (const name of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${name}\\b`, "m"), `${name} missing from:\n${r.stdout}`);
});

test("a sub-command's own help works when only it is imported", () => {
  const r = run("metrics", "--help");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: captioner metrics/m);
});

for (const name of ["nosuchcommand", "constructor", "toString", "__proto__"]) {
  test(`an unknown command (${name}) is refused with a message, not a stack trace`, () => {
    const r = run(name);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unknown command/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
}
