// The run-time state of a decoder step graph that every family needs: each layer's self-attention
// cache as onnxruntime tensors, per-image inputs that follow their rows, and row selection for beams.
import { ort } from "../engine/runtime.js";

export type Feeds = Record<string, ort.Tensor>;

/** Masked-out attention logits: torch.finfo(float32).min, as transformers' extended masks use. */
export const BLOCKED = -3.4028234663852886e38;

/** Graph input/output names of one layer's cache. */
export interface CacheNames {
  pastKey(layer: number): string;
  pastValue(layer: number): string;
  presentKey(layer: number): string;
  presentValue(layer: number): string;
}

/** Self-attention keys and values of every layer, `[rows, heads, past, headDim]`, grown by each step. */
export class KvCache {
  private keys: ort.Tensor[];
  private values: ort.Tensor[];
  /** Positions already held. */
  length = 0;

  constructor(private readonly names: CacheNames, layers: number, rows: number, heads: number, headDim: number) {
    const empty = () => new ort.Tensor("float32", new Float32Array(0), [rows, heads, 0, headDim]);
    this.keys = Array.from({ length: layers }, empty);
    this.values = Array.from({ length: layers }, empty);
  }

  /** Rows currently held. */
  get rows(): number {
    return this.keys[0]!.dims[0]!;
  }

  /** Adds the past of every layer to `feeds`. */
  feed(feeds: Feeds): void {
    this.keys.forEach((t, i) => ((feeds[this.names.pastKey(i)] = t), (feeds[this.names.pastValue(i)] = this.values[i]!)));
  }

  /** Takes the grown cache from a step's outputs. */
  update(outputs: Record<string, ort.Tensor>, newPositions: number): void {
    this.keys = this.keys.map((_, i) => outputs[this.names.presentKey(i)]!);
    this.values = this.values.map((_, i) => outputs[this.names.presentValue(i)]!);
    this.length += newPositions;
  }

  reorder(order: readonly number[]): void {
    this.keys = this.keys.map((t) => selectRows(t, order));
    this.values = this.values.map((t) => selectRows(t, order));
  }
}

/**
 * Inputs that depend only on a row's image (BLIP's cross-attention K/V): one row per image at first,
 * re-gathered only when beams change which image a row belongs to.
 */
export class PerImageInputs {
  private current: Feeds;
  private rowImage: number[];

  constructor(private readonly perImage: Feeds, images: number) {
    this.current = perImage;
    this.rowImage = Array.from({ length: images }, (_, i) => i);
  }

  get rows(): number {
    return this.rowImage.length;
  }

  feed(feeds: Feeds): void {
    Object.assign(feeds, this.current);
  }

  /** Row i becomes old row `order[i]`. */
  reorder(order: readonly number[]): void {
    const rowImage = order.map((r) => this.rowImage[r]!);
    if (rowImage.length !== this.rowImage.length || rowImage.some((img, r) => img !== this.rowImage[r])) {
      this.current = Object.fromEntries(Object.entries(this.perImage).map(([name, t]) => [name, selectRows(t, rowImage)]));
    }
    this.rowImage = rowImage;
  }
}

/** Rows `order` of a float32 tensor's first axis, as a new tensor (the same tensor when nothing moves). */
export function selectRows(t: ort.Tensor, order: readonly number[]): ort.Tensor {
  const [rows, ...rest] = t.dims;
  if (order.length === rows && order.every((r, i) => r === i)) return t;
  const size = rest.reduce((a, b) => a * b, 1);
  const src = t.data as Float32Array;
  const out = new Float32Array(order.length * size);
  order.forEach((r, i) => out.set(src.subarray(r * size, (r + 1) * size), i * size));
  return new ort.Tensor("float32", out, [order.length, ...rest]);
}

/** Ids and positions of `tokens` (equal-length rows) after `past` cached positions, as int64 `[rows, t]`. */
export function idsAndPositions(tokens: readonly (readonly number[])[], past: number): { ids: ort.Tensor; positions: ort.Tensor } {
  const rows = tokens.length;
  const T = tokens[0]!.length;
  const ids = new BigInt64Array(rows * T);
  const positions = new BigInt64Array(rows * T);
  tokens.forEach((row, r) => row.forEach((id, j) => ((ids[r * T + j] = BigInt(id)), (positions[r * T + j] = BigInt(past + j)))));
  return { ids: new ort.Tensor("int64", ids, [rows, T]), positions: new ort.Tensor("int64", positions, [rows, T]) };
}

/** Additive causal mask `[rows, 1, t, past + t]`: new token j sees every past token and new tokens ≤ j. */
export function causalBias(rows: number, T: number, past: number): ort.Tensor {
  const total = past + T;
  const mask = new Float32Array(rows * T * total);
  for (let r = 0; r < rows; r++) for (let j = 0; j < T; j++) mask.fill(BLOCKED, (r * T + j) * total + past + j + 1, (r * T + j + 1) * total);
  return new ort.Tensor("float32", mask, [rows, 1, T, total]);
}

/** The last position's logits of each row, from `[rows, t, vocab]` logits. */
export function lastPositions(logits: Float32Array, rows: number, T: number, vocab: number): Float32Array {
  if (T === 1) return logits;
  const last = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) last.set(logits.subarray(((r + 1) * T - 1) * vocab, (r + 1) * T * vocab), r * vocab);
  return last;
}
