// Weight quantisation at load time, from the fp32 checkpoint (no export step): symmetric
// per-output-channel int8, laid out as the `[in, out]` B matrix that DynamicQuantizeMatMul takes.
import * as fs from "node:fs";
import * as os from "node:os";
import { Param, type WeightData } from "./graph.js";

/**
 * The largest int8 weight magnitude. x86 CPUs without VNNI multiply u8 activations by s8 weights with
 * `vpmaddubsw`, which saturates pairs of products at 16 bits (255·127·2 > 32767): measured on an AMD
 * EPYC (AVX2 only), vision cosine to fp32 fell to 0.9978. 7-bit weights (≤ 63) cannot saturate there;
 * onnxruntime's `reduce_range` advice is the same. VNNI and ARM dot products accumulate in 32 bits.
 */
export const INT8_WEIGHT_MAX = os.arch() === "x64" && !x86HasVnni() ? 63 : 127;

function x86HasVnni(): boolean {
  try {
    return /\b(avx512_vnni|avx_vnni|amx_int8)\b/.test(fs.readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false; // not Linux: assume the older instruction set (7 bits is safe everywhere)
  }
}

export interface Int8Linear {
  /** int8 `[in, out]`. */
  weight: Param;
  /** One float32 scale per output channel: `w ≈ q · scale`. */
  scale: Param;
}

/**
 * Quantises a Linear weight `[out, in]`: `quantizeInt8(w).weight` is int8 `[in, out]`. Lazy: the int8
 * bytes are computed from the fp32 ones each time they are read and never kept, so a load can quantise
 * a tensor, write it out and drop it (a 2.7B model never holds all its int8 weights in JS). Only the
 * per-channel scales (4 bytes per output) are kept once computed. Callers that need it once per weight
 * cache the pair where it has a lifetime (nn.linear: the graph's `memo`).
 */
export function quantizeInt8(w: Param): Int8Linear {
  const [outF, inF] = w.shape as [number, number];
  let scales: Float32Array | null = null;
  const quantised = () => {
    const r = quantizeValues(w, outF, inF);
    scales = r.scales;
    return r.q;
  };
  const weight: WeightData = { dtype: "int8", shape: [inF, outF], get bytes() { return new Uint8Array(quantised().buffer); } };
  const scale: WeightData = { dtype: "float32", shape: [outF], get bytes() { return new Uint8Array((scales ?? (quantised(), scales!)).buffer); } };
  return { weight: new Param(`${w.name}.int8`, weight), scale: new Param(`${w.name}.scale`, scale) };
}

function quantizeValues(w: Param, outF: number, inF: number): { q: Int8Array; scales: Float32Array } {
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
    scales[o] = max > 0 ? max / INT8_WEIGHT_MAX : 1;
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
  return { q, scales };
}
