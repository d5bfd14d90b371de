// Reading caption requests: multipart uploads (field `image`, option fields) and JSON bodies with
// base64 images, into file bytes and the library's CaptionOptions. Shared by the caption routes.
import { setImmediate } from "node:timers/promises";
import multipart from "@fastify/multipart";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { type CaptionOptions, fromKwargs } from "../../generation/options.js";
import type { ServerLimits } from "../../serving/config.js";
import { ApiError } from "../plugins/errors.js";
import type { ApiCaptionOptions } from "../schemas.js";
import type { DescribeRequest } from "../../serving/describe.js";
import type { CaptionService } from "../../serving/caption_service.js";

export const IMAGE_FIELD = "image";

/** Multipart parsing for the routes of `app` (an encapsulated route plugin): whole files in memory, with the upload limits. */
export async function acceptMultipart(app: FastifyInstance, limits: ServerLimits): Promise<void> {
  await app.register(multipart, {
    attachFieldsToBody: "keyValues",
    limits: { fileSize: limits.maxUploadBytes, files: limits.maxImagesPerRequest, fields: 32, fieldSize: 4096, parts: limits.maxImagesPerRequest + 32 },
  });
}

/**
 * onRequest hook of the routes that caption uploads: a full queue is refused (503 queue_full) before
 * the upload is read and parsed, so refusals under overload cost next to nothing (goodput at 200 clients).
 */
export function refuseWhenQueueFull(captions: CaptionService) {
  return async () => captions.refuseWhenFull();
}

/**
 * preValidation hook: a multipart body must carry its image(s) as file field `image`; says what to
 * fix when the field is missing, misnamed, or text. `single`: exactly one image (the PoC route).
 */
export function requireImageField(single: boolean) {
  return async (request: FastifyRequest) => {
    if (!request.isMultipart()) return;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const value = body[IMAGE_FIELD];
    const files = Object.entries(body).filter(([, v]) => Buffer.isBuffer(v) || (Array.isArray(v) && v.some((x) => Buffer.isBuffer(x))));
    if (value === undefined) {
      const got = files.length > 0 ? `got a file in field "${files[0]![0]}"` : Object.keys(body).length > 0 ? `got only the fields ${Object.keys(body).map((k) => `"${k}"`).join(", ")}` : "the form is empty";
      throw new ApiError(400, "missing_image_field", `send the image in the multipart field "${IMAGE_FIELD}" (${got}); e.g. curl -F '${IMAGE_FIELD}=@photo.jpg;type=image/jpeg'`);
    }
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => Buffer.isBuffer(v))) {
      throw new ApiError(400, "image_not_a_file", `field "${IMAGE_FIELD}" must be a file upload, not text; e.g. curl -F '${IMAGE_FIELD}=@photo.jpg' (note the @)`);
    }
    if (single && values.length > 1) throw new ApiError(400, "too_many_images", `this route captions one image; send one "${IMAGE_FIELD}" field, or use POST /v1/captions for several`);
  };
}

/** The uploaded files of a validated multipart body. */
export function multipartImages(body: Record<string, unknown>): Uint8Array[] {
  const value = body[IMAGE_FIELD];
  return (Array.isArray(value) ? value : [value]) as Buffer[];
}

/** Base64 strings (optionally `data:...;base64,` URLs) → bytes; names the first one that is not base64. */
/** Base64 characters decoded per turn of the event loop (3 MiB of image, a few milliseconds). */
const BASE64_SLICE = 4 * 1024 * 1024;

/**
 * Decodes base64 images (a `data:…;base64,` prefix and whitespace allowed; the URL-safe alphabet
 * too) a slice per turn of the event loop: sixteen 20 MB images decoded in one go held the loop
 * (and /healthz) for all of them.
 */
export async function base64Images(list: readonly string[]): Promise<Uint8Array[]> {
  const images: Uint8Array[] = [];
  for (const [i, text] of list.entries()) images.push(await base64Image(text, i));
  return images;
}

async function base64Image(text: string, i: number): Promise<Uint8Array> {
  const payload = text.startsWith("data:") ? text.replace(/^data:[^,]*;base64,/, "") : text;
  // Node's decoder (either alphabet) skips what is not base64, so a payload is clean when it decodes
  // to exactly the bytes its length promises: no regular expression over megabytes.
  const decoded = await decodeSliced(payload);
  if (decoded) return decoded;
  // Line-wrapped (`base64 photo.jpg` breaks lines every 76 characters) or not base64: whitespace is
  // stripped and the alphabet checked a slice per turn too (over a whole 20 MB image: 345 ms in one go).
  const parts: string[] = [];
  let alphabet = true;
  for (let at = 0; at < payload.length && alphabet; at += BASE64_SLICE) {
    await setImmediate();
    const part = payload.slice(at, at + BASE64_SLICE).replace(/\s+/g, "");
    alphabet = /^[A-Za-z0-9+/_=-]*$/.test(part);
    parts.push(part);
  }
  const stripped = parts.join("");
  const padding = stripped.indexOf("=");
  const padded = padding < 0 || ["=", "=="].includes(stripped.slice(padding));
  const unwrapped = alphabet && padded ? await decodeSliced(stripped) : null;
  if (unwrapped) return unwrapped;
  throw new ApiError(400, "invalid_base64", `images[${i}] is not base64; send each image file base64-encoded (e.g. base64 -w0 photo.jpg)`);
}

/** `payload` decoded a slice per turn when every character is base64 (see cleanDecodedLength), else null. */
async function decodeSliced(payload: string): Promise<Uint8Array | null> {
  const expected = cleanDecodedLength(payload);
  if (expected < 0) return null;
  const out = Buffer.allocUnsafeSlow(expected);
  let written = 0;
  for (let at = 0; at < payload.length; at += BASE64_SLICE) {
    await setImmediate();
    written += out.write(payload.slice(at, at + BASE64_SLICE), written, "base64");
  }
  return written === expected ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : null;
}

/** `bytes` as base64 for storage: the client's own text when it is exactly that (no copy, no re-encoding of megabytes), else encoded. */
export function storedBase64(text: string, bytes: Uint8Array): string {
  if (!text.startsWith("data:") && cleanDecodedLength(text) === bytes.length) return text;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** The decoded length of `payload` if every character is base64 (up to two trailing "="); -1 for a length no clean payload has. */
function cleanDecodedLength(payload: string): number {
  const padding = payload.endsWith("==") ? 2 : payload.endsWith("=") ? 1 : 0;
  const chars = payload.length - padding;
  // (4k + 1 characters: one stray character could then hide without shortening the result.)
  return chars % 4 === 1 ? -1 : Math.floor((chars * 3) / 4);
}

/** The API's snake_case options → the library's CaptionOptions; an empty form field counts as unset. */
export function captionOptions(o: ApiCaptionOptions): CaptionOptions {
  return fromKwargs(Object.fromEntries(Object.entries(o).filter(([, v]) => v !== "")));
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** What a route's JSON body may carry, in words (the 413 `body_too_large` message says it). */
    bodyRule?: string;
  }
}

/** Room in a JSON body besides the base64 images: field names, options, data-URL prefixes. */
const JSON_BODY_SLACK = 1024 * 1024;

/** The image bytes a route's JSON body may carry, and the limits they come from (for the 413 message). */
export interface JsonBodyRule {
  imageBytes: number;
  rule: string;
}

/** A request of `images` images (default: maxImagesPerRequest), each at most maxUploadBytes. */
export function requestImages(limits: ServerLimits, images = limits.maxImagesPerRequest): JsonBodyRule {
  const names = images === limits.maxImagesPerRequest ? "maxImagesPerRequest × maxUploadBytes" : "maxUploadBytes";
  return { imageBytes: images * limits.maxUploadBytes, rule: `at most ${images} image${images === 1 ? "" : "s"} of ${limits.maxUploadBytes} bytes each (${names})` };
}

/** A caption job: all its images together at most maxJobBytes (a job holds up to 1000 images, so the count cannot bound it). */
export function jobImages(limits: ServerLimits): JsonBodyRule {
  return { imageBytes: limits.maxJobBytes, rule: `at most ${limits.maxJobBytes} bytes of images in one job (maxJobBytes)` };
}

/**
 * A JSON route's body options, the one place the rule lives: its images base64-encoded (4/3 of the
 * bytes) plus slack. The declared Content-Length is checked against it before the body is read.
 */
export function jsonBody({ imageBytes, rule }: JsonBodyRule): { bodyLimit: number; config: { bodyRule: string } } {
  return { bodyLimit: Math.ceil((imageBytes * 4) / 3) + JSON_BODY_SLACK, config: { bodyRule: `${rule}, base64-encoded` } };
}

/** The feature fields of a request (multipart form, JSON body or query string), as the schema validated them. */
export interface FeatureFields {
  features?: string;
  style?: string;
  exif_transpose?: boolean;
}

/** The feature fields as the describe service takes them; an empty form field counts as unset. */
export function featureRequest(fields: FeatureFields): DescribeRequest {
  const set = <T>(v: T | undefined) => (v === undefined || (v as unknown) === "" ? undefined : v);
  return { features: set(fields.features), style: set(fields.style), exifTranspose: set(fields.exif_transpose) };
}
