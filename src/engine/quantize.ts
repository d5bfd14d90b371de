// Weight quantisation at load time, from the fp32 checkpoint (no export step): symmetric
// per-output-channel int8, laid out as the `[in, out]` B matrix that DynamicQuantizeMatMul takes.
import { Param } from "./graph.js";

export interface Int8Linear {
  /** int8 `[in, out]`. */
  weight: Param;
  /** One float32 scale per output channel: `w ≈ q · scale`. */
  scale: Param;
}

/**
 * Quantises a Linear weight `[out, in]`: `quantizeInt8(w).weight` is int8 `[in, out]`. Pure: callers
 * that need it once per weight cache it where it has a lifetime (nn.linear: the graph's `memo`).
 */
export function quantizeInt8(w: Param): Int8Linear {
  const [outF, inF] = w.shape as [number, number];
  const bytes = w.data.bytes;
  const src = new Float32Array(bytes.buffer, bytes.byteOffset, outF * inF);
  const q = new Int8Array(inF * outF);
  const scales = new Float32Array(outF);
  const inverse = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let max = 0;
    for (let i = o * inF, end = i + inF; i < end; i++) {
      const a = Math.abs(src[i]!);
      if (a > max) max = a;
    }
    scales[o] = max > 0 ? max / 127 : 1;
    inverse[o] = 1 / scales[o]!;
  }
  // Transposed to [in, out] in tiles of output rows, so that writes stay within a few cache lines.
  const TILE = 64;
  for (let o0 = 0; o0 < outF; o0 += TILE) {
    const o1 = Math.min(o0 + TILE, outF);
    for (let i = 0; i < inF; i++) {
      const base = i * outF;
      for (let o = o0; o < o1; o++) q[base + o] = Math.round(src[o * inF + i]! * inverse[o]!);
    }
  }
  return {
    weight: new Param(`${w.name}.int8`, { dtype: "int8", shape: [inF, outF], bytes: new Uint8Array(q.buffer) }),
    scale: new Param(`${w.name}.scale`, { dtype: "float32", shape: [outF], bytes: new Uint8Array(scales.buffer) }),
  };
}
