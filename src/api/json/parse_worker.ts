// The worker thread of json/off_thread.ts: collects a request body's chunks as they arrive and turns
// them into its JSON value with Fastify's own rules (secure-json-parse refusing __proto__ and
// constructor.prototype keys), so a body of hundreds of megabytes is joined, decoded and parsed
// here, not on the server's event loop.
import { parentPort } from "node:worker_threads";
import secureJson from "secure-json-parse";

/** A body's chunks, then its end (parse and answer) or its abandonment. */
export type BodyMessage = { id: number; chunk: Uint8Array } | { id: number; end: true } | { id: number; drop: true };

/** Where a long string goes back into the value (keys and indices from the root), and its UTF-8 bytes. */
export interface DetachedString {
  path: (string | number)[];
  bytes: Uint8Array;
  /** One byte a character (base64 is): read back as latin1, a plain copy, faster than UTF-8 decoding. */
  ascii: boolean;
}

export type ParseAnswer = { id: number; value: unknown; strings: DetachedString[] } | { id: number; invalid: true };

/** Strings this long travel as bytes: postMessage would clone them in one piece on the receiving thread (≈ 0.5 s for 400 MB). */
export const LONG_STRING = 1024 * 1024;

/** Takes the long strings out of `value` (left null), as moveable bytes the receiver puts back one per turn. */
function detachLongStrings(value: unknown, path: (string | number)[], out: DetachedString[]): unknown {
  if (typeof value === "string") {
    // (Not the root, and only strings UTF-8 carries exactly: JSON may hold lone surrogates.)
    if (path.length === 0 || value.length < LONG_STRING || !(value as string & { isWellFormed(): boolean }).isWellFormed()) return value;
    const bytes = Buffer.from(value, "utf8");
    out.push({ path, bytes, ascii: bytes.length === value.length });
    return null;
  }
  if (Array.isArray(value)) return value.map((item, i) => detachLongStrings(item, [...path, i], out));
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) (value as Record<string, unknown>)[key] = detachLongStrings(item, [...path, key], out);
  }
  return value;
}

const bodies = new Map<number, Uint8Array[]>();

parentPort?.on("message", (message: BodyMessage) => {
  const { id } = message;
  if ("chunk" in message) {
    if (!bodies.has(id)) bodies.set(id, []);
    bodies.get(id)!.push(message.chunk);
    return;
  }
  const chunks = bodies.get(id) ?? [];
  bodies.delete(id);
  if ("drop" in message) return;
  let answer: ParseAnswer;
  const strings: DetachedString[] = [];
  try {
    const text = Buffer.concat(chunks).toString("utf8");
    chunks.length = 0;
    const value = secureJson.parse(text, undefined, { protoAction: "error", constructorAction: "error" });
    answer = { id, value: detachLongStrings(value, [], strings), strings };
  } catch {
    answer = { id, invalid: true };
  }
  parentPort!.postMessage(answer, strings.map((s) => s.bytes.buffer as ArrayBuffer));
});
