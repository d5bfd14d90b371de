// Weight quantisation at load time, from the fp32 checkpoint (no export step): symmetric
// per-output-channel int8, laid out as the `[in, out]` B matrix that DynamicQuantizeMatMul takes.
import { Param } from "./graph.js";

export interface Int8Linear {
  /** int8 `[in, out]`. */
  weight: Param;
  /** One float32 scale per output channel: `w ≈ q · scale`. */
  scale: Param;
}

const cache = new WeakMap<Param, Int8Linear>();

/** Quantises a Linear weight `[out, in]` once (cached per weight). */
export function int8Linear(w: Param): Int8Linear {
  const hit = cache.get(w);
  if (hit) return hit;
  const [outF, inF] = w.shape as [number, number];
  const bytes = w.data.bytes;
  const src = new Float32Array(bytes.buffer, bytes.byteOffset, outF * inF);
  const q = new Int8Array(inF * outF);
  const scales = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    const row = src.subarray(o * inF, (o + 1) * inF);
    let max = 0;
    for (const v of row) max = Math.max(max, Math.abs(v));
    const scale = max > 0 ? max / 127 : 1;
    scales[o] = scale;
    for (let i = 0; i < inF; i++) q[i * outF + o] = Math.round(row[i]! / scale);
  }
  const result = {
    weight: new Param(`${w.name}.int8`, { dtype: "int8", shape: [inF, outF], bytes: new Uint8Array(q.buffer) }),
    scale: new Param(`${w.name}.scale`, { dtype: "float32", shape: [outF], bytes: new Uint8Array(scales.buffer) }),
  };
  cache.set(w, result);
  return result;
}
