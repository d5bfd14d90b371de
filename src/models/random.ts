// Random weights for checkpoints written from model code (benchmarks at real sizes, tests): every
// family's writer uses the same deterministic initialiser.
import type { Initialiser } from "../engine/weights.js";

/** Uniform weights of std 0.02 from a seeded PRNG; 1-D LayerNorm weights γ = 1 and β = 0. */
export function randomInitialiser(seed: number): Initialiser {
  const rng = xorshift(seed);
  const a = 0.02 * Math.sqrt(3);
  return (name, shape) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const out = new Float32Array(n);
    const norm = /norm/i.test(name) && shape.length === 1;
    if (norm) out.fill(name.endsWith("weight") ? 1 : 0);
    else for (let i = 0; i < n; i++) out[i] = (rng() * 2 - 1) * a;
    return out;
  };
}

/** A small deterministic PRNG (xorshift32) giving floats in [0, 1). */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}
