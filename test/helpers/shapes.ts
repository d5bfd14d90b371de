// Small splits of the shapes dataset (../shared/datasets/shapes) for training tests.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { goldenRoot } from "./golden.js";

export const shapesRoot = path.join(goldenRoot, "../datasets/shapes");

/** The first `n` items of a shapes split as a split folder of its own (in a fresh temporary folder). */
export function smallSplit(split: string, n: number): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "captioner-shapes-split-")), split);
  fs.mkdirSync(dir);
  const lines = fs.readFileSync(path.join(shapesRoot, split, "metadata.jsonl"), "utf8").trim().split("\n").slice(0, n);
  for (const line of lines) fs.copyFileSync(path.join(shapesRoot, split, JSON.parse(line).file_name), path.join(dir, JSON.parse(line).file_name));
  fs.writeFileSync(path.join(dir, "metadata.jsonl"), `${lines.join("\n")}\n`);
  return dir;
}
