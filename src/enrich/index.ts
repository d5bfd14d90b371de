/**
 * Enrichment of a captioned image: colours and tags (local, deterministic, a few milliseconds) and,
 * optionally, a restyled description from an LLM with a deterministic fallback.
 *
 * The result has the shape of `captioner caption --json` and the API's enrichment fields:
 * `{ caption, tags: [{tag, score, source}], colors: {palette, foreground, background, accent, grayscale}, description }`.
 */
import type { RgbImage } from "../preprocess/decoders/types.js";
import { type ColorOptions, type ImageColors, type PixelImage, colorsOf } from "./colors.js";
import { type Description, type Restyler } from "./restyle.js";
import { type Tag, type TagOptions, tagsOf } from "./tags.js";

export { COLOR_FAMILIES, COLOR_NAMES, type ColorFamily, type NamedColor, nameColor } from "./color_names.js";
export { COLOR_OPTIONS, type ColorOptions, ColorSample, type ColorSwatch, type ImageColors, type PixelImage, type SampleOptions, colorsOf, sampleColors } from "./colors.js";
export {
  BUILTIN_STYLES,
  FALLBACK_KINDS,
  type FallbackKind,
  LLM_SETTINGS,
  type LlmConfig,
  LlmConfigError,
  type LlmSettings,
  type StyleConfig,
  TAGS_JSON_SCHEMA,
  TEMPLATE_FIELDS,
  parseLlmConfig,
} from "./llm_config.js";
export { type NumericOption, type OptionTable, type OptionsOf, resolveOptions } from "./options.js";
export { type Description, type FallbackReason, type LlmUse, type RestyleInput, Restyler, type RestylerOptions, UnknownStyleError, fallbackText, renderTemplate } from "./restyle.js";
export { TAG_OPTIONS, type Tag, type TagOptions, type TagSource, tagsOf } from "./tags.js";

export interface Enrichment {
  caption: string;
  tags: Tag[];
  colors: ImageColors;
}

export interface DescribedEnrichment extends Enrichment {
  description: Description;
}

export interface EnrichOptions {
  colors?: ColorOptions;
  tags?: TagOptions;
}

export interface DescribeOptions extends EnrichOptions {
  /** A configured style; default the config's `defaultStyle`. */
  style?: string;
  /** The original file, attached for vision models (the decoded pixels are not re-encoded). */
  imageFile?: { bytes: Uint8Array; mimeType: string };
}

/**
 * Colours and tags of a captioned image. `captions` are best first (a beam search's n-best adds
 * agreement to the tag scores); the first is the caption.
 * @example enrich(await decodeImage(bytes), ["a red fire hydrant on a street"]).tags[0] // { tag: "fire hydrant", score: 1, source: "noun" }
 */
export function enrich(image: PixelImage | RgbImage, captions: readonly string[], options: EnrichOptions = {}): Enrichment {
  if (captions.length === 0) throw new RangeError("enrich needs at least one caption (best first).");
  const colors = colorsOf(image, options.colors);
  return { caption: captions[0], tags: tagsOf(captions, colors, options.tags), colors };
}

/**
 * {@link enrich} plus a description in a configured style. Never rejects for LLM trouble: the
 * description falls back and says why in `description.llm`; an unknown style throws UnknownStyleError.
 */
export async function enrichAndDescribe(
  image: PixelImage | RgbImage,
  captions: readonly string[],
  restyler: Restyler,
  options: DescribeOptions = {},
): Promise<DescribedEnrichment> {
  const enrichment = enrich(image, captions, options);
  const description = await restyler.describe({ ...enrichment, captions, image: options.imageFile }, options.style);
  return { ...enrichment, description };
}

/**
 * Runs enrichment once on a tiny picture so the first real request does not pay for compiling the
 * colour and NLP code paths (a few hundred milliseconds cold, a few milliseconds warm). Call at start-up.
 */
export function warmUpEnrichment(): void {
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < 256; i++) data.set(i % 16 < 8 ? [220, 30, 30] : [30, 60, 210], i * 3);
  enrich({ width: 16, height: 16, data }, ["a red square next to a blue square", "two squares"]);
}
export { FEATURES, FEATURE_NAMES, FEATURES_PATTERN, type Feature, FeatureError, type DescribedImage, type DescribeImageOptions, checkStyle, describeImage, EarlyColors, needsCaptions, parseFeatures, wantsColors } from "./features.js";
