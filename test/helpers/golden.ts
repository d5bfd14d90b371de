// Access to the reference data in ../shared/golden (produced by transformers 4.40.2, never by us).
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

/** Repository root (tests run from dist/test/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const goldenRoot = path.resolve(repoRoot, "../shared/golden");
export const blipCases = ["base_like_32px", "odd_36px_patch8", "deep_48px_patch16", "legacy_files_24px"] as const;

export const blipCaseDir = (name: string) => path.join(goldenRoot, "blip", name);

export interface ArrayRef {
  file: string | null;
  dtype: "float32" | "uint8";
  shape: number[];
  stats: Record<string, number | string>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readExpected(caseName: string): any {
  return JSON.parse(fs.readFileSync(path.join(blipCaseDir(caseName), "expected.json"), "utf8"));
}

/** Loads a golden array (`{file, dtype, shape}`) relative to its case folder. */
export function readArray(caseDir: string, ref: ArrayRef): Float32Array | Uint8Array {
  assert.ok(ref.file, "this array is given as stats only");
  const buf = fs.readFileSync(path.join(caseDir, ref.file));
  const bytes = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return ref.dtype === "float32" ? new Float32Array(bytes.buffer) : bytes;
}

/** Asserts |actual − expected| ≤ tol everywhere, reporting the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |Δ| = ${worst} at ${at} (tolerance ${tol})`);
}

export const blip2Cases = ["opt_28px_q8", "opt_30px_q5_xattn1"] as const;
export const blip2CaseDir = (name: string) => path.join(goldenRoot, "blip2", name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readBlip2Expected(caseName: string): any {
  return JSON.parse(fs.readFileSync(path.join(blip2CaseDir(caseName), "expected.json"), "utf8"));
}
