// JSON request bodies of a megabyte or more are parsed in a worker thread. Measured before: one
// 400 MiB caption request (15 base64 images) held the event loop 7.1 s under load — joining the
// chunks and turning them into a string, JSON.parse and its prototype-poisoning scan — and /healthz
// waited as long. Here each chunk is passed to the thread as it arrives (a copy of 64 KB per turn
// of the event loop), and only the parsed value comes back.
import type { Readable } from "node:stream";
import { setImmediate } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { errorCodes, type FastifyInstance, type FastifyRequest } from "fastify";
import secureJson from "secure-json-parse";
import type { BodyMessage, DetachedString, ParseAnswer } from "./parse_worker.js";

/** From this many bytes on, a body is parsed off the event loop (below, the hand-off costs more than parsing). */
export const OFF_THREAD_MIN_BYTES = 1024 * 1024;

/** Fastify's defaults: a key __proto__ or constructor.prototype is an error, not a property. */
const POISONING = { protoAction: "error", constructorAction: "error" } as const;

/** A worker thread and the bodies sent to it; once it fails, every one of them is refused. */
interface Thread {
  worker: Worker;
  bodies: Map<number, { settle?: { resolve: (value: unknown) => void; reject: (error: Error) => void } }>;
  failure: Error | null;
}

/** One lazily started worker thread, referenced only while it has work (an idle one never keeps a process alive). */
class JsonWorker {
  private thread: Thread | null = null;
  private nextId = 0;

  /** A body to send chunk by chunk; `end()` settles with its value (or the thread's failure). */
  open(): { send(chunk: Uint8Array): void; end(): Promise<unknown>; drop(): void } {
    const thread = this.start();
    const id = this.nextId++;
    thread.bodies.set(id, {});
    thread.worker.ref();
    const post = (message: BodyMessage, transfer: ArrayBuffer[] = []) => {
      if (!thread.failure) thread.worker.postMessage(message, transfer);
    };
    return {
      // Each chunk owns its buffer (see readJsonBody): moved to the thread, not copied again.
      send: (chunk) => post({ id, chunk }, [chunk.buffer as ArrayBuffer]),
      end: () => new Promise((resolve, reject) => {
        if (thread.failure) return reject(thread.failure);
        thread.bodies.get(id)!.settle = { resolve, reject };
        post({ id, end: true });
      }),
      drop: () => {
        thread.bodies.delete(id);
        post({ id, drop: true });
        if (thread.bodies.size === 0) thread.worker.unref();
      },
    };
  }

  private start(): Thread {
    if (this.thread) return this.thread;
    const worker = new Worker(new URL("./parse_worker.js", import.meta.url));
    worker.unref();
    const thread: Thread = { worker, bodies: new Map(), failure: null };
    worker.on("message", (answer: ParseAnswer) => {
      const settle = thread.bodies.get(answer.id)?.settle;
      thread.bodies.delete(answer.id);
      if (thread.bodies.size === 0) worker.unref();
      if ("invalid" in answer) settle?.reject(invalidJson(answer.reason));
      else attachLongStrings(answer.value, answer.strings).then(settle?.resolve, settle?.reject);
    });
    const fail = (error: Error) => {
      if (thread.failure) return;
      thread.failure = error;
      for (const body of thread.bodies.values()) body.settle?.reject(error);
      thread.bodies.clear();
      if (this.thread === thread) this.thread = null;
      void worker.terminate();
    };
    worker.on("error", fail);
    // An answer that cannot be rebuilt here: which body it was is unknown, so the thread's bodies all fail.
    worker.on("messageerror", (error) => fail(new Error(`the JSON parsing thread's answer could not be read: ${error.message}`)));
    worker.on("exit", (code) => fail(new Error(`the JSON parsing thread stopped (exit code ${code})`)));
    this.thread = thread;
    return thread;
  }
}

/** Fastify's invalid-JSON error, with what was wrong when the body's shape was refused. */
function invalidJson(reason: string | undefined): Error {
  const error = new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY();
  if (reason) error.message = `${reason} (the API's bodies nest about 5 levels and hold a few values per image)`;
  return error;
}

/** Puts the worker's long strings back into `value`, one per turn of the event loop. */
async function attachLongStrings(value: unknown, strings: DetachedString[]): Promise<unknown> {
  for (const { path, bytes, ascii } of strings) {
    await setImmediate();
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(ascii ? "latin1" : "utf8");
    const parent = path.slice(0, -1).reduce<unknown>((at, key) => (at as Record<string | number, unknown>)[key], value);
    (parent as Record<string | number, unknown>)[path.at(-1)!] = text;
  }
  return value;
}

const shared = new JsonWorker();

/** Parses a whole JSON body on this thread as Fastify's default parser does (same errors, same poisoning rules). */
export function parseJsonHere(body: Buffer): unknown {
  if (body.length === 0) throw new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY();
  try {
    return secureJson.parse(body, undefined, POISONING);
  } catch {
    throw new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY();
  }
}

/**
 * Reads a JSON body with Fastify's rules (the route's bodyLimit, the declared Content-Length must
 * match) and parses it: here while it stays under OFF_THREAD_MIN_BYTES, else in the worker thread,
 * to which its chunks go as they arrive.
 */
export function readJsonBody(request: FastifyRequest, payload: Readable): Promise<unknown> {
  const limit = request.routeOptions.bodyLimit;
  const declared = Number(request.headers["content-length"]);
  if (declared > limit) return Promise.reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
  return new Promise((resolve, reject) => {
    let received = 0;
    let held: Uint8Array[] = []; // chunks kept here until the body proves large
    let remote: ReturnType<JsonWorker["open"]> | null = null;
    const stop = () => {
      payload.removeListener("data", onData);
      payload.removeListener("end", onEnd);
      payload.removeListener("error", onError);
      payload.removeListener("close", onClose);
    };
    const fail = (error: Error) => {
      stop();
      remote?.drop();
      held = [];
      reject(error);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > limit) return fail(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      // Copied into a buffer of its own: a chunk may be a view of the socket's read buffer.
      const own = new Uint8Array(bytes);
      if (remote) return remote.send(own);
      held.push(own);
      if (received >= OFF_THREAD_MIN_BYTES) {
        remote = shared.open();
        for (const part of held) remote.send(part);
        held = [];
      }
    };
    const onEnd = () => {
      stop();
      if (!Number.isNaN(declared) && received !== declared) return fail(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      if (remote) return void remote.end().then(resolve, reject);
      try {
        resolve(parseJsonHere(Buffer.concat(held, received)));
      } catch (error) {
        reject(error);
      }
    };
    const onError = (error: Error & { statusCode?: number }) => {
      if (!(typeof error.statusCode === "number" && error.statusCode >= 400)) error.statusCode = 400;
      fail(error);
    };
    payload.on("data", onData);
    payload.on("end", onEnd);
    payload.on("error", onError);
    // A connection that goes away mid-body may end the stream without an error: its chunks must not stay in the thread.
    const onClose = () => onError(new Error("the connection closed before the request body ended"));
    payload.on("close", onClose);
    payload.resume();
  });
}

/** Replaces `app`'s application/json parser with readJsonBody. */
export function parseJsonOffThread(app: FastifyInstance): void {
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", (request: FastifyRequest, payload: Readable) => readJsonBody(request, payload));
}
