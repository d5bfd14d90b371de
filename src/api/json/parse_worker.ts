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

export type ParseAnswer = { id: number; value: unknown; strings: DetachedString[] } | { id: number; invalid: true; reason?: string };

/** Strings this long travel as bytes: postMessage would clone them in one piece on the receiving thread (≈ 0.5 s for 400 MB). */
export const LONG_STRING = 1024 * 1024;

/**
 * Bounds on a big body's shape (the API's bodies nest ≈ 5 deep and hold a value per image and option).
 * What is sent back is rebuilt on the server's event loop in one piece: 2 M small values held it 2.2 s,
 * and ≈ 5,000 levels of nesting overflowed its stack there (the request never settled).
 */
export const MAX_DEPTH = 64;
export const MAX_VALUES = 100_000;

class ShapeError extends Error {}

/**
 * Takes the long strings out of `root` (left null), as moveable bytes the receiver puts back one per
 * turn; refuses a value nested deeper than MAX_DEPTH or holding more than MAX_VALUES values. Iterative:
 * no recursion for a hostile body to exhaust, and a path is only built for a detached string.
 */
function detachLongStrings(root: unknown, out: DetachedString[]): unknown {
  type At = { container: Record<string | number, unknown>; key: string | number; depth: number; parent: At | null };
  const pathOf = (at: At) => {
    const path: (string | number)[] = [];
    for (let p: At | null = at; p; p = p.parent) path.unshift(p.key);
    return path;
  };
  let values = 0;
  const stack: At[] = [];
  const push = (value: unknown, parent: At | null, depth: number) => {
    if (depth > MAX_DEPTH) throw new ShapeError(`the JSON body nests deeper than ${MAX_DEPTH} levels`);
    const container = value as Record<string | number, unknown>;
    for (const key of Array.isArray(value) ? value.keys() : Object.keys(value as object)) {
      if (++values > MAX_VALUES) throw new ShapeError(`the JSON body holds more than ${MAX_VALUES} values`);
      stack.push({ container, key, depth, parent });
    }
  };
  if (root !== null && typeof root === "object") push(root, null, 1);
  while (stack.length > 0) {
    const at = stack.pop()!;
    const value = at.container[at.key];
    if (typeof value === "string") {
      // (Only strings UTF-8 carries exactly: JSON may hold lone surrogates.)
      if (value.length < LONG_STRING || !(value as string & { isWellFormed(): boolean }).isWellFormed()) continue;
      const bytes = Buffer.from(value, "utf8");
      out.push({ path: pathOf(at), bytes, ascii: bytes.length === value.length });
      at.container[at.key] = null;
    } else if (value !== null && typeof value === "object") push(value, at, at.depth + 1);
  }
  return root;
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
    answer = { id, value: detachLongStrings(value, strings), strings };
  } catch (error) {
    strings.length = 0;
    answer = { id, invalid: true, ...(error instanceof ShapeError && { reason: error.message }) };
  }
  parentPort!.postMessage(answer, strings.map((s) => s.bytes.buffer as ArrayBuffer));
});
