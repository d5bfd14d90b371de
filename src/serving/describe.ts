// Captioning with features: what the caption routes and the chat-completions route call when a
// request asks for more than the caption (tags, colours, a restyled description) or for EXIF
// orientation. Every check (model, options, images, features, style) runs before any work, so a bad
// request is a 4xx; the default request is exactly a plain caption call.
import { checkStyle, type DescribedImage, describeImage, EarlyColors, type Feature, FeatureError, needsCaptions, parseFeatures, type Restyler, UnknownStyleError, wantsColors } from "../enrich/index.js";
import type { CaptionOptions } from "../generation/options.js";
import { ImageDecodeError } from "../preprocess/image.js";
import { exifTransposed } from "../preprocess/orientation.js";
import { type ApiCaption, type CaptionRun, type CaptionService, imageInputError, InputError } from "./caption_service.js";
import type { ServerLimits } from "./config.js";

export interface DescribeRequest {
  /** A comma-separated list or names; undefined: `caption` only. */
  features?: string | readonly string[];
  /** A configured description style; default the config's `llm.defaultStyle`. */
  style?: string;
  /** Turn images upright per their EXIF orientation first (off: captions identical to transformers'). */
  exifTranspose?: boolean;
}

/** One image's answer: the fields of its requested features. */
export interface DescribeResult extends DescribedImage {
  captions?: ApiCaption[];
}

export interface DescribeDeps {
  captions: CaptionService;
  restyler: Restyler;
  limits: ServerLimits;
}

/** Reads features and style, refusing bad ones as InputError (400) with what to send instead. */
export function requestFeatures(request: DescribeRequest, restyler: Restyler): Feature[] {
  try {
    const features = parseFeatures(request.features);
    checkStyle(features, restyler, request.style);
    return features;
  } catch (error) {
    if (error instanceof FeatureError) throw new InputError(400, "invalid_features", error.message);
    if (error instanceof UnknownStyleError) throw new InputError(400, "unknown_style", `${error.message} Send one of them as style (the server's llm.styles configure more).`);
    throw error;
  }
}

/**
 * Captions `images` with `model` and adds the requested features; per image, in request order.
 * `run.background`: a job's run, whose decodes wait their turn in the decoding budget.
 */
export async function describeImages(deps: DescribeDeps, model: string, images: readonly Uint8Array[], options: CaptionOptions, request: DescribeRequest, run: Pick<CaptionRun, "background"> = {}): Promise<DescribeResult[]> {
  const features = requestFeatures(request, deps.restyler);
  const maxPixels = deps.limits.maxPixels;
  if (request.exifTranspose) {
    // The service's own checks (count, size) come first, so a huge request is refused before any decoding here.
    await deps.captions.check(model, images, options, run);
    images = await Promise.all(images.map((bytes, i) => exifTransposed(bytes, { maxPixels }).catch((error) => {
      throw error instanceof ImageDecodeError ? imageInputError(error, bytes, i, images.length) : error;
    })));
  }
  const extras = features.filter((f) => f !== "caption");
  // Colours from the caption path's decode of these (maybe transposed) bytes: no second decode.
  const early = wantsColors(extras) ? new EarlyColors() : undefined;
  const onDecoded = early?.hook(images);
  let captions: ApiCaption[][];
  if (needsCaptions(features)) captions = await deps.captions.caption(model, images, options, { ...run, onDecoded });
  else {
    await deps.captions.check(model, images, options, { ...run, onDecoded });
    captions = images.map(() => []);
  }
  return Promise.all(images.map(async (bytes, i): Promise<DescribeResult> => {
    const result: DescribeResult = features.includes("caption") ? { captions: captions[i] } : {};
    if (extras.length === 0) return result;
    try {
      // The transposed bytes are a PNG already upright: no second rotation.
      return { ...result, ...(await describeImage(bytes, captions[i]!.map((c) => c.text), { features: extras, restyler: deps.restyler, style: request.style, limits: { maxPixels }, knownColors: early?.colorsOf(i) })) };
    } catch (error) {
      throw error instanceof ImageDecodeError ? imageInputError(error, bytes, i, images.length) : error;
    }
  }));
}
