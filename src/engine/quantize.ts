// Weight quantisation at load time, from the fp32 checkpoint (no export step): symmetric
// per-output-channel int8, laid out as the `[in, out]` B matrix that DynamicQuantizeMatMul takes;
// 4-bit in blocks along the input, laid out as the packed B of com.microsoft MatMulNBits.
import * as fs from "node:fs";
import * as os from "node:os";
import { type FileRange, readFloat32 } from "./checkpoint/read_float32.js";
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

/**
 * How a Linear weight is quantised; with the fp32 values, all a worker thread needs to quantise it
 * (quantize_pool.ts).
 */
export type Recipe = { kind: "int8" } | { kind: "int4"; blockSize: number; asymmetric: boolean };

/** The arrays one quantisation makes, by part: int8 `weight`, `scale`; int4 `weight`, `scales`, `zeroPoints`. */
export type QuantizedValues = Record<string, Int8Array | Uint8Array | Float32Array>;

/** Quantises fp32 `src` `[outF, inF]` by `recipe`: the one entry point of the load and of the worker threads. */
export function quantizeArrays(recipe: Recipe, src: Float32Array, outF: number, inF: number): QuantizedValues {
  if (recipe.kind === "int8") return int8Values(src, outF, inF);
  const { packed, scales, zeroPoints } = int4Values(src, outF, inF, recipe.blockSize, recipe.asymmetric);
  // Symmetric blocks have no zero-point input (MatMulNBits then uses 8).
  return recipe.asymmetric ? { weight: packed, scales, zeroPoints } : { weight: packed, scales };
}

const quantizedData = new WeakMap<WeightData, QuantizedLinear>();

/** The quantised Linear whose part `data` is, if it is one (the writer hands these to worker threads). */
export function quantizedOf(data: WeightData): QuantizedLinear | undefined {
  return quantizedData.get(data);
}

/**
 * The parts of one quantised Linear, computed together from its fp32 weight `[out, in]`: when a part's
 * bytes are read, or ahead of that by a worker thread (`supply`). Each part is kept only until it is
 * read once and recomputed if read again, so a load can quantise a tensor, write it out and drop it (a
 * 2.7B model never holds all its quantised weights in JS). Callers that read a weight once per graph
 * cache the Linear where it has a lifetime (nn.linear: the graph's `memo`).
 */
export class QuantizedLinear {
  private pending: Partial<QuantizedValues> = {};

  constructor(
    readonly from: Param,
    readonly recipe: Recipe,
  ) {}

  get outFeatures(): number {
    return this.from.shape[0]!;
  }

  get inFeatures(): number {
    return this.from.shape[1]!;
  }

  /** Values quantised elsewhere from the same weight, for the next read of each part. */
  supply(values: QuantizedValues): void {
    this.pending = values;
  }

  /** Quantises now, unless values wait to be read. */
  computeNow(): void {
    if (Object.keys(this.pending).length === 0) this.pending = this.compute();
  }

  /** Where the fp32 weight is stored raw in a file, if it is (then a worker thread can read it too). */
  get fileSource(): FileRange | null {
    const d = this.from.data;
    return d.dtype === "float32" && d.source && d.source.length === this.outFeatures * this.inFeatures * 4 ? d.source : null;
  }

  private compute(): QuantizedValues {
    const source = this.fileSource;
    const bytes = source ? null : this.from.data.bytes;
    const src = bytes ? new Float32Array(bytes.buffer, bytes.byteOffset, this.outFeatures * this.inFeatures) : readFloat32(source!, this.from.name);
    return quantizeArrays(this.recipe, src, this.outFeatures, this.inFeatures);
  }

  private take(part: string): Int8Array | Uint8Array | Float32Array {
    if (!this.pending[part]) this.pending = this.compute();
    const v = this.pending[part]!;
    delete this.pending[part];
    return v;
  }

  /** Part `part` as a weight named `<from>.<suffix>`. */
  param(part: string, suffix: string, dtype: "int8" | "uint8" | "float32", shape: number[]): Param {
    const take = (p: string) => this.take(p);
    const data: WeightData = { dtype, shape, get bytes() { const v = take(part); return new Uint8Array(v.buffer, v.byteOffset, v.byteLength); } };
    quantizedData.set(data, this);
    return new Param(`${this.from.name}.${suffix}`, data);
  }
}

export interface Int8Linear {
  /** int8 `[in, out]`. */
  weight: Param;
  /** One float32 scale per output channel: `w ≈ q · scale`. */
  scale: Param;
}

/** Quantises a Linear weight `[out, in]` (lazily, see QuantizedLinear): `quantizeInt8(w).weight` is int8 `[in, out]`. */
export function quantizeInt8(w: Param): Int8Linear {
  const [outF, inF] = w.shape as [number, number];
  const q = new QuantizedLinear(w, { kind: "int8" });
  return { weight: q.param("weight", "int8", "int8", [inF, outF]), scale: q.param("scale", "scale", "float32", [outF]) };
}

function int8Values(src: Float32Array, outF: number, inF: number): { weight: Int8Array; scale: Float32Array } {
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
  const q = new Int8Array(inF * outF);
  if (outF % 4 === 0 && LITTLE_ENDIAN) transposeQuantize4(src, inverse, q, outF, inF);
  else for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) q[i * outF + o] = roundToInt(src[o * inF + i]! * inverse[o]!);
  return { weight: q, scale: scales };
}

/**
 * `Math.round` for |v| ≤ 127 without the call: shifted positive, truncation is floor (ties go up, as
 * Math.round's do). The shifted sum is rounded to a double first, which can carry a value a hair
 * below a half up to the next integer; `r - v` is exact there and catches it. NaN gives 0, as
 * `Math.round(NaN)` stored in an Int8Array does. Measured: the quantiser went from 57 to ≈ 190 M
 * weights/s with this and the 4-row packing below (blip-base's 222 M weights: 3.9 → 1.2 s of an
 * int8 load).
 */
export function roundToInt(v: number): number {
  const r = ((v + 128.5) | 0) - 128;
  return r - v > 0.5 ? r - 1 : v === v ? r : 0;
}

const LITTLE_ENDIAN = os.endianness() === "LE";

/**
 * q `[in, out]` = round(src `[out, in]` · inverse) transposed, four output rows at a time: the four
 * int8 values of one q row are written as one 32-bit word, and the four source rows are read in order.
 */
function transposeQuantize4(src: Float32Array, inverse: Float32Array, q: Int8Array, outF: number, inF: number): void {
  const words = new Int32Array(q.buffer, q.byteOffset, q.length >> 2);
  const outWords = outF >> 2;
  for (let o = 0; o < outF; o += 4) {
    const s0 = inverse[o]!, s1 = inverse[o + 1]!, s2 = inverse[o + 2]!, s3 = inverse[o + 3]!;
    const r0 = o * inF, r1 = r0 + inF, r2 = r1 + inF, r3 = r2 + inF;
    const column = o >> 2;
    for (let i = 0; i < inF; i++) {
      words[i * outWords + column] =
        (roundToInt(src[r0 + i]! * s0) & 255) |
        ((roundToInt(src[r1 + i]! * s1) & 255) << 8) |
        ((roundToInt(src[r2 + i]! * s2) & 255) << 16) |
        (roundToInt(src[r3 + i]! * s3) << 24);
    }
  }
}

export interface Int4Linear {
  /** uint8 `[out, blocks, blockSize / 2]`: two 4-bit codes a byte, the lower k in the low nibble. */
  weight: Param;
  /** float32 `[out, blocks]`: `w ≈ (code − zero point) · scale`. */
  scales: Param;
  /** uint8 `[out, ceil(blocks / 2)]`, packed like the weight; null when symmetric (MatMulNBits then uses 8). */
  zeroPoints: Param | null;
}

/**
 * Quantises a Linear weight `[out, in]` to 4 bits in blocks of `blockSize` inputs, each block with its
 * own scale: `asymmetric` maps the block's [min(0, lo), max(0, hi)] onto codes 0..15 through a zero point
 * (0 stays exact); symmetric maps ±max|w| onto 1..15 around 8. Either way a value is off by at most
 * half its block's step. `quantizeInt4(w, 32, true).weight` is uint8 `[out, in/32, 16]`.
 *
 * Lazy like `quantizeInt8`.
 */
export function quantizeInt4(w: Param, blockSize: number, asymmetric: boolean): Int4Linear {
  const [outF, inF] = w.shape as [number, number];
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new Error(`4-bit block size must be a power of two ≥ 16, got ${blockSize}`);
  const blocks = Math.ceil(inF / blockSize);
  const q = new QuantizedLinear(w, { kind: "int4", blockSize, asymmetric });
  return {
    weight: q.param("weight", "int4", "uint8", [outF, blocks, blockSize / 2]),
    scales: q.param("scales", "int4_scales", "float32", [outF, blocks]),
    zeroPoints: asymmetric ? q.param("zeroPoints", "int4_zero_points", "uint8", [outF, Math.ceil(blocks / 2)]) : null,
  };
}

/** Codes, scales and zero points of every block of `w`'s rows (inputs past `inF` pad with the zero point). */
function int4Values(src: Float32Array, outF: number, inF: number, blockSize: number, asymmetric: boolean): { packed: Uint8Array; scales: Float32Array; zeroPoints: Uint8Array } {
  const blocks = Math.ceil(inF / blockSize);
  const zpRow = Math.ceil(blocks / 2);
  const packed = new Uint8Array(outF * blocks * (blockSize / 2));
  const scales = new Float32Array(outF * blocks);
  const zeroPoints = new Uint8Array(outF * zpRow);
  const half = blockSize / 2;
  for (let o = 0; o < outF; o++) {
    for (let b = 0; b < blocks; b++) {
      const start = o * inF + b * blockSize;
      const n = Math.min(blockSize, inF - b * blockSize);
      let lo = 0, hi = 0;
      for (let i = start; i < start + n; i++) {
        const v = src[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let scale: number, zp: number;
      if (asymmetric) {
        scale = (hi - lo) / 15;
        zp = scale > 0 ? Math.min(15, Math.max(0, Math.round(-lo / scale))) : 8;
      } else {
        scale = Math.max(hi, -lo) / 7;
        zp = 8;
      }
      scale = scale > 0 ? Math.fround(scale) : 1; // an all-zero block: every code is the zero point
      const inverse = 1 / scale;
      const out = (o * blocks + b) * half;
      if (n === blockSize) {
        for (let j = 0, i = start; j < half; j++, i += 2) packed[out + j] = code4(src[i]! * inverse, zp) | (code4(src[i + 1]! * inverse, zp) << 4);
      } else {
        for (let j = 0; j < half; j++) {
          const [k0, k1] = [2 * j, 2 * j + 1];
          packed[out + j] = (k0 < n ? code4(src[start + k0]! * inverse, zp) : zp) | ((k1 < n ? code4(src[start + k1]! * inverse, zp) : zp) << 4);
        }
      }
      scales[o * blocks + b] = scale;
      const z = o * zpRow + (b >> 1);
      zeroPoints[z] = zeroPoints[z]! | (zp << ((b & 1) * 4));
    }
  }
  return { packed, scales, zeroPoints };
}

/**
 * round(scaled) + zp clamped to 0..15, rounded as int8's `roundToInt` (|scaled| ≤ 15 here). With the
 * pairs packed straight from the source (no per-block code buffer) the 4-bit quantiser went from 60–90
 * to 130–150 M weights/s (CPU time, a 10240×2560 weight, busy machine; int8's: 160–240).
 */
function code4(scaled: number, zp: number): number {
  const c = roundToInt(scaled) + zp;
  return c < 0 ? 0 : c > 15 ? 15 : c;
}
