/**
 * The colours of a decoded image: a palette of dominant colours clustered in OKLab, the background
 * (what the border shows), the foreground (what the centre shows that is not background), an accent
 * (the most chromatic colour besides the background) and a greyscale flag. Deterministic: the same
 * pixels always give the same answer, with no random initialisation anywhere.
 *
 * Colour conversions and naming go through culori; only the clustering is written here.
 */
import { culori } from "./culori.js";
import type { RgbImage } from "../preprocess/decoders/types.js";
import { type ColorFamily, nameColor } from "./color_names.js";
import { type OptionTable, type OptionsOf, resolveOptions } from "./options.js";

const { clampRgb, formatHex, oklab, rgb: toRgb } = culori;

/**
 * Pixels to take colours from. `decodeImage()`'s {@link RgbImage} fits as it is; an RGBA buffer
 * (`channels: 4`, or a `data` of `width * height * 4` bytes), or RGB with an `alpha` plane beside
 * it (what decodeImage keeps for RGBA PNGs), lets transparency count.
 */
export interface PixelImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  channels?: 3 | 4;
  /** With 3 channels: alpha, one byte a pixel. */
  alpha?: Uint8Array;
}

/** One palette colour. `share` is its fraction of the image's visible (non-transparent) area. */
export interface ColorSwatch {
  hex: string;
  rgb: [number, number, number];
  share: number;
  name: string;
  family: ColorFamily;
}

export interface ImageColors {
  /** Largest `share` first. Empty only when every pixel is transparent. */
  palette: ColorSwatch[];
  /** The dominant colour away from the background, weighted toward the centre; null for a one-colour image. */
  foreground: ColorSwatch | null;
  /** The dominant colour of the border; null when the border is mostly transparent. */
  background: ColorSwatch | null;
  /** The most chromatic palette colour other than the background; null when nothing is colourful. */
  accent: ColorSwatch | null;
  /** No colour anywhere: all but a sliver of the image is neutral grey, black or white. */
  grayscale: boolean;
}

/** The options of {@link colorsOf}: defaults and accepted ranges (the later JSON schema and CLI flags derive from this). */
export const COLOR_OPTIONS = {
  maxColors: { default: 6, min: 1, max: 16, integer: true, doc: "Most colours in the palette (fewer when the image has fewer distinct colours)." },
  maxSamples: {
    default: 16_384,
    min: 256,
    max: 4_000_000,
    integer: true,
    doc: "Pixels looked at; a larger image is sampled on a regular grid, which keeps a 1000×700 photo within a few milliseconds.",
  },
} as const satisfies OptionTable;

export type ColorOptions = OptionsOf<typeof COLOR_OPTIONS>;
export type SampleOptions = Pick<ColorOptions, "maxSamples">;

// Tuned constants. Distances are Euclidean in OKLab, where ~0.02 is a just-noticeable difference.
/** Clusters closer than this are one colour seen with noise or shading, and are merged. */
const MERGE_DISTANCE = 0.06;
/** Clusters smaller than this are folded into their nearest neighbour: specks, not palette colours. */
const MIN_SHARE = 0.005;
/** Below this alpha a pixel is not seen; its RGB is often junk (black or white under the transparency). */
const MIN_VISIBLE_ALPHA = 32;
/**
 * OKLCh chroma under which a colour counts as neutral for the greyscale flag; it matches the name
 * table, whose `gray` and `white` families hold tints up to about this chroma (`slategray`, `beige`).
 */
const NEUTRAL_CHROMA = 0.04;
/** A greyscale image may still have this much colourful area (JPEG chroma fringes, a stray pixel). */
const GRAYSCALE_TOLERANCE = 0.01;
/** An accent must be at least this chromatic; greys and near-greys are not accents. */
const ACCENT_MIN_CHROMA = 0.06;
/** The border frame is this fraction of the shorter side (at least one sample deep). */
const BORDER_FRACTION = 0.05;
/** More than this fraction of the border must be visible for the image to have a background. */
const MIN_BORDER_VISIBILITY = 0.5;
const MAX_KMEANS_ROUNDS = 32;

/**
 * The colour summary of an image, or of a {@link ColorSample} taken from it earlier (then
 * `maxSamples` was the sample's, and the answer is the same as from the image).
 * @example colorsOf(await decodeImage(bytes)).palette[0] // { hex: "#dc1e1e", rgb: [220, 30, 30], share: 0.866, name: "red", family: "red" }
 */
export function colorsOf(image: PixelImage | RgbImage | ColorSample, options?: ColorOptions): ImageColors {
  const { maxColors, maxSamples } = resolveOptions("colors", COLOR_OPTIONS, options);
  const samples = image instanceof ColorSample ? image : sampleImage(image, maxSamples);
  const bins = binSamples(samples);
  const clusters = clusterBins(bins, maxColors);
  const totalWeight = clusters.reduce((sum, c) => sum + c.weight, 0);
  if (totalWeight === 0) return { palette: [], foreground: null, background: null, accent: null, grayscale: false };

  const swatches = clusters.map((c) => swatchOf(c, c.weight / totalWeight));
  const byShare = swatches.map((_, i) => i).sort((i, j) => swatches[j].share - swatches[i].share || i - j);
  const regions = tallyRegions(samples, bins, clusters.length);
  const backgroundIndex = regions.borderVisibility > MIN_BORDER_VISIBILITY ? argmax(regions.border) : -1;
  const foregroundIndex = argmax(regions.centre.map((w, i) => (i === backgroundIndex ? 0 : w)));
  const accentIndex = argmax(clusters.map((c, i) => (i === backgroundIndex || c.chroma < ACCENT_MIN_CHROMA ? 0 : c.chroma)));
  let colourfulWeight = 0;
  for (let i = 0; i < bins.count; i++) if (bins.chroma[i] >= NEUTRAL_CHROMA) colourfulWeight += bins.weight[i];

  const pick = (i: number) => (i < 0 ? null : swatches[i]);
  return {
    palette: byShare.map((i) => swatches[i]),
    foreground: pick(foregroundIndex),
    background: pick(backgroundIndex),
    accent: pick(accentIndex),
    grayscale: colourfulWeight / totalWeight <= GRAYSCALE_TOLERANCE,
  };
}

// ---- sampling ------------------------------------------------------------------------------------

/**
 * The pixels {@link colorsOf} looks at: at most about `maxSamples` of them, on a regular grid. It is
 * all colorsOf needs and small (≈ 150 kB), so code that has the image decoded for another reason
 * (the caption path) can keep a sample instead of the image or of a second decode. Opaque: make one
 * with {@link sampleColors}.
 */
export class ColorSample {
  /** Per sample: its RGB quantised to 5 bits a channel (a 15-bit key), and its weight (alpha / 255; 0 = unseen). */
  readonly binKey: Uint16Array;
  readonly weight: Float32Array;
  readonly red: Uint8Array;
  readonly green: Uint8Array;
  readonly blue: Uint8Array;

  /** @internal use {@link sampleColors} */
  constructor(readonly gridWidth: number, readonly gridHeight: number) {
    const count = gridWidth * gridHeight;
    this.binKey = new Uint16Array(count);
    this.weight = new Float32Array(count);
    this.red = new Uint8Array(count);
    this.green = new Uint8Array(count);
    this.blue = new Uint8Array(count);
  }
}

/**
 * What colorsOf would look at in `image`, taken now (≈ 0.2 ms for a 1000×700 photo); `colorsOf(sample)`
 * then equals `colorsOf(image)`.
 */
export function sampleColors(image: PixelImage | RgbImage, options?: SampleOptions): ColorSample {
  const { maxSamples } = resolveOptions("colors", COLOR_OPTIONS, options);
  return sampleImage(image, maxSamples);
}

function channelsOf(image: PixelImage | RgbImage): 3 | 4 {
  const declared = (image as PixelImage).channels;
  const pixels = image.width * image.height;
  if (!(Number.isInteger(image.width) && Number.isInteger(image.height) && pixels > 0)) {
    throw new RangeError(`colorsOf needs a non-empty image (got ${image.width}x${image.height}).`);
  }
  const channels = declared ?? (image.data.length === pixels * 4 ? 4 : 3);
  if (image.data.length !== pixels * channels) {
    throw new RangeError(
      `colorsOf: a ${image.width}x${image.height} image with ${channels} channels needs ${pixels * channels} bytes, got ${image.data.length}.` +
        " Pass interleaved 8-bit RGB or RGBA rows (what decodeImage() returns).",
    );
  }
  if (channels === 3 && image.alpha !== undefined && image.alpha.length !== pixels) {
    throw new RangeError(`colorsOf: a ${image.width}x${image.height} image's alpha plane needs ${pixels} bytes, got ${image.alpha.length}.`);
  }
  return channels;
}

/**
 * Takes at most `maxSamples` pixels on a regular grid (one pixel per cell, not an average, so flat
 * areas keep their exact colour and edges do not invent blends).
 */
function sampleImage(image: PixelImage | RgbImage, maxSamples: number): ColorSample {
  const channels = channelsOf(image);
  const alphaPlane = channels === 3 ? image.alpha : undefined;
  const step = Math.max(1, Math.ceil(Math.sqrt((image.width * image.height) / maxSamples)));
  const gridWidth = Math.ceil(image.width / step);
  const gridHeight = Math.ceil(image.height / step);
  const samples = new ColorSample(gridWidth, gridHeight);
  const offset = step >> 1;
  for (let gy = 0, s = 0; gy < gridHeight; gy++) {
    const y = Math.min(image.height - 1, gy * step + offset);
    for (let gx = 0; gx < gridWidth; gx++, s++) {
      const x = Math.min(image.width - 1, gx * step + offset);
      const p = (y * image.width + x) * channels;
      const alpha = channels === 4 ? image.data[p + 3] : alphaPlane ? alphaPlane[y * image.width + x] : 255;
      if (alpha < MIN_VISIBLE_ALPHA) continue;
      const r = image.data[p];
      const g = image.data[p + 1];
      const b = image.data[p + 2];
      samples.red[s] = r;
      samples.green[s] = g;
      samples.blue[s] = b;
      samples.weight[s] = alpha / 255;
      samples.binKey[s] = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3);
    }
  }
  return samples;
}

// ---- binning -------------------------------------------------------------------------------------

/**
 * Groups of near-identical sampled colours, as parallel arrays (a photo has thousands; objects would
 * cost more in garbage collection than the clustering itself): weight, mean OKLab and its chroma.
 */
interface Bins {
  count: number;
  weight: Float64Array;
  l: Float64Array;
  a: Float64Array;
  b: Float64Array;
  chroma: Float64Array;
  /** The cluster each bin belongs to, filled by {@link clusterBins}. */
  cluster: Int32Array;
  /** Per sample: its bin (−1 for unseen samples). */
  ofSample: Int32Array;
}

const BIN_KEYS = 1 << 15;
// Scratch space reused across calls (colorsOf is synchronous, so calls never overlap); zeroed after use.
const binSums = new Float64Array(BIN_KEYS * 4);

/**
 * Groups samples by 5-bit RGB so the OKLab conversion runs once per group instead of once per pixel.
 * Each group converts the mean of its own pixels, not the bin's centre, so pure greys stay exactly
 * neutral.
 */
function binSamples(samples: ColorSample): Bins {
  for (let s = 0; s < samples.weight.length; s++) {
    const w = samples.weight[s];
    if (w === 0) continue;
    const k = samples.binKey[s] * 4;
    binSums[k] += w;
    binSums[k + 1] += w * samples.red[s];
    binSums[k + 2] += w * samples.green[s];
    binSums[k + 3] += w * samples.blue[s];
  }
  const indexOfKey = new Int32Array(BIN_KEYS);
  let count = 0;
  for (let key = 0; key < BIN_KEYS; key++) if (binSums[key * 4] > 0) indexOfKey[key] = count++;
  const bins: Bins = {
    count,
    weight: new Float64Array(count),
    l: new Float64Array(count),
    a: new Float64Array(count),
    b: new Float64Array(count),
    chroma: new Float64Array(count),
    cluster: new Int32Array(count),
    ofSample: new Int32Array(samples.weight.length).fill(-1),
  };
  for (let key = 0, i = 0; key < BIN_KEYS; key++) {
    const k = key * 4;
    const w = binSums[k];
    if (w === 0) continue;
    const lab = oklab({ mode: "rgb", r: binSums[k + 1] / w / 255, g: binSums[k + 2] / w / 255, b: binSums[k + 3] / w / 255 });
    bins.weight[i] = w;
    bins.l[i] = lab.l;
    bins.a[i] = lab.a;
    bins.b[i] = lab.b;
    bins.chroma[i] = Math.sqrt(lab.a * lab.a + lab.b * lab.b);
    binSums.fill(0, k, k + 4);
    i++;
  }
  for (let s = 0; s < samples.weight.length; s++) if (samples.weight[s] > 0) bins.ofSample[s] = indexOfKey[samples.binKey[s]];
  return bins;
}

// ---- clustering ----------------------------------------------------------------------------------

interface Cluster {
  weight: number;
  l: number;
  a: number;
  b: number;
  chroma: number;
}

function binDistance2(bins: Bins, i: number, c: { l: number; a: number; b: number }): number {
  const dl = bins.l[i] - c.l;
  const da = bins.a[i] - c.a;
  const db = bins.b[i] - c.b;
  return dl * dl + da * da + db * db;
}

const binAsCluster = (bins: Bins, i: number): Cluster => ({ weight: bins.weight[i], l: bins.l[i], a: bins.a[i], b: bins.b[i], chroma: bins.chroma[i] });

/**
 * Weighted k-means over the bins. Initialised deterministically (k-means++ with the most likely pick
 * taken instead of a random draw: the heaviest bin, then repeatedly the bin with the largest weight ×
 * squared distance to the centres so far), stopping early when no bin is far from every centre — a
 * two-colour image yields two clusters, not `maxColors`. Then specks are folded in and clusters that
 * ended up too close merged, re-running Lloyd after each change so every bin sits in its nearest
 * cluster. Fills `bins.cluster`.
 */
function clusterBins(bins: Bins, maxColors: number): Cluster[] {
  if (bins.count === 0) return [];
  let centres = initialCentres(bins, maxColors);
  let totalWeight = 0;
  for (let i = 0; i < bins.count; i++) totalWeight += bins.weight[i];
  for (;;) {
    const clusters = lloyd(bins, centres);
    const smallest = argmin(clusters.map((c) => c.weight));
    if (clusters.length > 1 && clusters[smallest].weight / totalWeight < MIN_SHARE) {
      centres = clusters.filter((_, i) => i !== smallest);
      continue;
    }
    const [i, j, d2] = closestPair(clusters);
    if (d2 < MERGE_DISTANCE * MERGE_DISTANCE) {
      centres = clusters.filter((_, n) => n !== (clusters[i].weight < clusters[j].weight ? i : j));
      continue;
    }
    return clusters;
  }
}

function initialCentres(bins: Bins, maxColors: number): Cluster[] {
  const centres: Cluster[] = [binAsCluster(bins, argmax(Array.from(bins.weight)))];
  const nearest2 = new Float64Array(bins.count);
  for (let i = 0; i < bins.count; i++) nearest2[i] = binDistance2(bins, i, centres[0]);
  while (centres.length < maxColors) {
    let next = -1;
    let bestScore = 0;
    for (let i = 0; i < bins.count; i++) {
      const score = bins.weight[i] * nearest2[i];
      if (score > bestScore) [next, bestScore] = [i, score];
    }
    // Nothing left that would survive the merge step: stop instead of splitting one colour in two.
    if (next < 0 || nearest2[next] < MERGE_DISTANCE * MERGE_DISTANCE) break;
    const centre = binAsCluster(bins, next);
    centres.push(centre);
    for (let i = 0; i < bins.count; i++) nearest2[i] = Math.min(nearest2[i], binDistance2(bins, i, centre));
  }
  return centres;
}

/** Lloyd iterations until assignments stop changing; empty clusters are dropped. */
function lloyd(bins: Bins, start: Cluster[]): Cluster[] {
  let centres = start;
  bins.cluster.fill(-1);
  for (let round = 0; round < MAX_KMEANS_ROUNDS; round++) {
    const k = centres.length;
    const sums = new Float64Array(k * 4);
    let changed = false;
    for (let i = 0; i < bins.count; i++) {
      let best = 0;
      let bestD2 = Infinity;
      for (let c = 0; c < k; c++) {
        const d2 = binDistance2(bins, i, centres[c]);
        if (d2 < bestD2) {
          best = c;
          bestD2 = d2;
        }
      }
      if (bins.cluster[i] !== best) {
        bins.cluster[i] = best;
        changed = true;
      }
      const w = bins.weight[i];
      sums[best * 4] += w;
      sums[best * 4 + 1] += w * bins.l[i];
      sums[best * 4 + 2] += w * bins.a[i];
      sums[best * 4 + 3] += w * bins.b[i];
    }
    const renumber = new Int32Array(k).fill(-1);
    const next: Cluster[] = [];
    for (let c = 0; c < k; c++) {
      const w = sums[c * 4];
      if (w === 0) continue;
      renumber[c] = next.length;
      const [l, a, b] = [sums[c * 4 + 1] / w, sums[c * 4 + 2] / w, sums[c * 4 + 3] / w];
      next.push({ weight: w, l, a, b, chroma: Math.sqrt(a * a + b * b) });
    }
    if (next.length < k) for (let i = 0; i < bins.count; i++) bins.cluster[i] = renumber[bins.cluster[i]];
    centres = next;
    if (!changed && next.length === k) break;
  }
  return centres;
}

function closestPair(clusters: Cluster[]): [number, number, number] {
  let best: [number, number, number] = [0, 0, Infinity];
  for (let i = 0; i < clusters.length; i++) {
    for (let j = i + 1; j < clusters.length; j++) {
      const [dl, da, db] = [clusters[i].l - clusters[j].l, clusters[i].a - clusters[j].a, clusters[i].b - clusters[j].b];
      const d2 = dl * dl + da * da + db * db;
      if (d2 < best[2]) best = [i, j, d2];
    }
  }
  return best;
}

// ---- regions and output ----------------------------------------------------------------------------

/** Per cluster: weight on the border frame and centre-weighted weight; and how visible the border is. */
function tallyRegions(samples: ColorSample, bins: Bins, clusterCount: number) {
  const { gridWidth, gridHeight } = samples;
  const depth = Math.max(1, Math.round(BORDER_FRACTION * Math.min(gridWidth, gridHeight)));
  const border = new Array<number>(clusterCount).fill(0);
  const centre = new Array<number>(clusterCount).fill(0);
  let borderSamples = 0;
  let borderSeen = 0;
  const cx = (gridWidth - 1) / 2;
  const cy = (gridHeight - 1) / 2;
  for (let gy = 0, s = 0; gy < gridHeight; gy++) {
    for (let gx = 0; gx < gridWidth; gx++, s++) {
      const onBorder = gx < depth || gy < depth || gx >= gridWidth - depth || gy >= gridHeight - depth;
      const w = samples.weight[s];
      if (onBorder) {
        borderSamples++;
        borderSeen += w;
      }
      if (w === 0) continue;
      const cluster = bins.cluster[bins.ofSample[s]];
      if (onBorder) border[cluster] += w;
      // Subjects tend to sit mid-frame: weight falls linearly from 1 at the centre to 0 at the corners.
      const dx = (gx - cx) / (cx || 1);
      const dy = (gy - cy) / (cy || 1);
      const r = Math.sqrt((dx * dx + dy * dy) / 2);
      centre[cluster] += w * (1 - r);
    }
  }
  return { border, centre, borderVisibility: borderSeen / borderSamples };
}

function swatchOf(cluster: Cluster, share: number): ColorSwatch {
  const srgb = clampRgb(toRgb({ mode: "oklab", l: cluster.l, a: cluster.a, b: cluster.b }));
  const named = nameColor(srgb);
  const rgb = [srgb.r, srgb.g, srgb.b].map((v) => Math.round(v * 255)) as [number, number, number];
  // The hex is formatted from the rounded channels so `hex` and `rgb` can never disagree.
  const hex = formatHex({ mode: "rgb", r: rgb[0] / 255, g: rgb[1] / 255, b: rgb[2] / 255 });
  return { hex, rgb, share: Math.round(share * 10_000) / 10_000, name: named.name, family: named.family };
}

/** Index of the largest positive value; −1 when none is positive. First wins ties (determinism). */
function argmax(values: number[]): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) if (values[i] > 0 && (best < 0 || values[i] > values[best])) best = i;
  return best;
}

function argmin(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] < values[best]) best = i;
  return best;
}
