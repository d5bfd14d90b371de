/**
 * What a describe request asks for, and the per-image work behind it: the `features` list
 * (`caption,tags,colors,description`), shared by the HTTP routes and `captioner describe`, and
 * {@link describeImage}, which turns one image's file bytes and captions into the requested fields.
 */
import { type RgbaImage, decodeImageRgba, rgbMatchesRgba } from "../preprocess/rgba.js";
import { type OnDecoded, sniffImageFormat } from "../preprocess/image.js";
import type { DecodeLimits, RgbImage } from "../preprocess/decoders/types.js";
import { type ColorOptions, type ColorSample, type ImageColors, colorsOf, sampleColors } from "./colors.js";
import { type Description, type Restyler, UnknownStyleError } from "./restyle.js";
import { type Tag, type TagOptions, tagsOf } from "./tags.js";

/** Every feature with its help; the order is the order of the output fields. */
export const FEATURES = {
  caption: "the model's caption(s)",
  tags: "nouns and adjective–noun pairs of the caption(s), plus the image's colour families, each with a score and a source",
  colors: "the dominant colours (palette with names and families), foreground, background, accent, greyscale flag",
  description: "the caption restyled by the configured LLM (style: a configured style), or a deterministic fallback saying why",
} as const;

export type Feature = keyof typeof FEATURES;
export const FEATURE_NAMES = Object.keys(FEATURES) as Feature[];

/** The comma-separated list accepted by the `features` option, e.g. for a JSON schema pattern. */
export const FEATURES_PATTERN = `^\\s*(${FEATURE_NAMES.join("|")})\\s*(,\\s*(${FEATURE_NAMES.join("|")})\\s*)*$`;

/** A request's features or style that cannot be served; the message says what to send instead. */
export class FeatureError extends RangeError {
  override name = "FeatureError";
}

/**
 * Reads a features list: a comma-separated string or an array of names; undefined means `caption`
 * only (what every caption route answered before features existed).
 * @example parseFeatures("caption, colors") // ["caption", "colors"]
 */
export function parseFeatures(value: string | readonly string[] | undefined): Feature[] {
  if (value === undefined) return ["caption"];
  const names = (typeof value === "string" ? value.split(",") : value).map((s) => s.trim().toLowerCase()).filter(Boolean);
  const unknown = names.filter((n) => !(n in FEATURES));
  if (unknown.length > 0) throw new FeatureError(`unknown feature ${unknown.map((n) => JSON.stringify(n)).join(", ")}; features is a comma-separated list of ${FEATURE_NAMES.join(", ")}`);
  if (names.length === 0) throw new FeatureError(`features is empty; give a comma-separated list of ${FEATURE_NAMES.join(", ")}`);
  return FEATURE_NAMES.filter((f) => names.includes(f));
}

/** True when the features need the model's captions (tags and descriptions are made from them). */
export function needsCaptions(features: readonly Feature[]): boolean {
  return features.includes("caption") || features.includes("tags") || features.includes("description");
}

/** True when the features need the image's colours: colour tags need the palette even when colours were not asked for. */
export function wantsColors(features: readonly Feature[]): boolean {
  return features.includes("colors") || features.includes("tags") || features.includes("description");
}

/**
 * Checks `style` before any work starts: it must be a configured one, and only descriptions have a style.
 * Throws {@link UnknownStyleError} (naming the configured styles) or {@link FeatureError}.
 */
export function checkStyle(features: readonly Feature[], restyler: Restyler, style: string | undefined): void {
  if (style === undefined) return;
  if (!features.includes("description")) throw new FeatureError(`style "${style}" applies to descriptions; add description to features (e.g. features=caption,description)`);
  if (!restyler.styles.includes(style)) throw new UnknownStyleError(style, restyler.styles);
}

/** The fields {@link describeImage} fills, each only when its feature was asked for. */
export interface DescribedImage {
  tags?: Tag[];
  colors?: ImageColors;
  description?: Description;
}

export interface DescribeImageOptions {
  features: readonly Feature[];
  /** Needed for `description`. */
  restyler?: Restyler;
  style?: string;
  exifTranspose?: boolean;
  limits?: DecodeLimits;
  colors?: ColorOptions;
  tags?: TagOptions;
  /** The pixels, when the caller decoded them already (with the same exifTranspose). */
  rgba?: RgbaImage;
  /** The colours, when the caller worked them out already ({@link EarlyColors}); they stand for the `colors` options. */
  knownColors?: ImageColors;
}

/**
 * Tags, colours and description of one image from its file bytes and its captions (best first;
 * empty when no caption feature was needed). Colours come from the pixels with alpha kept, so
 * transparent areas count for nothing. Never rejects for LLM trouble (see Restyler.describe).
 */
export async function describeImage(bytes: Uint8Array, captions: readonly string[], options: DescribeImageOptions): Promise<DescribedImage> {
  const { features } = options;
  const out: DescribedImage = {};
  const colors = !wantsColors(features)
    ? undefined
    : (options.knownColors ?? colorsOf(options.rgba ?? (await decodeImageRgba(bytes, { ...options.limits, exifTranspose: options.exifTranspose })), options.colors));
  const tags = features.includes("tags") || features.includes("description") ? tagsOf(captions, colors, options.tags) : undefined;
  if (features.includes("tags")) out.tags = tags;
  if (features.includes("colors")) out.colors = colors;
  if (features.includes("description")) {
    if (!options.restyler) throw new Error("describeImage: the description feature needs a Restyler");
    const format = sniffImageFormat(bytes);
    const image = format ? { bytes, mimeType: `image/${format}` } : undefined;
    out.description = await options.restyler.describe({ caption: captions[0] ?? "", captions, tags, colors, image }, options.style);
  }
  return out;
}

/**
 * Colours taken from a caption path's own decode, so a request for colours decodes its images once:
 * pass {@link hook} (or call {@link see}) to the caption call's decode, then {@link colorsOf} gives
 * each image's colours. Only images whose RGB decode is all the colour they have qualify
 * ({@link rgbMatchesRgba}: no alpha); for the others `colorsOf` is undefined and describeImage
 * decodes them again with alpha kept. What is kept per image is a {@link ColorSample} (≈ 150 kB),
 * never the decoded image (the decoding budget has let go of it).
 */
export class EarlyColors {
  private readonly samples = new Map<number, ColorSample>();

  constructor(private readonly options?: ColorOptions) {}

  /** The decode hook of a caption call over `images` (the same array, in the same order). */
  hook(images: readonly Uint8Array[]): OnDecoded {
    return (image, index) => this.see(index, images[index]!, image);
  }

  /** Keeps image `index`'s colour sample from `image`, its RGB decode of `bytes`, when that holds all its colour. */
  see(index: number, bytes: Uint8Array, image: RgbImage): void {
    if (rgbMatchesRgba(bytes)) this.samples.set(index, sampleColors(image, { maxSamples: this.options?.maxSamples }));
  }

  /** The colours of image `index`, or undefined when its decode could not be used. */
  colorsOf(index: number): ImageColors | undefined {
    const sample = this.samples.get(index);
    return sample && colorsOf(sample, this.options);
  }
}
