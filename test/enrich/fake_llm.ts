/**
 * A fake OpenAI-compatible chat-completions server on loopback. Each test installs a behaviour; the
 * server records every request body and header, how many requests were in flight at most, and which
 * responses the client abandoned before the end.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  body: Record<string, any>;
  headers: http.IncomingHttpHeaders;
}

export type Behaviour = (request: SeenRequest, res: http.ServerResponse) => void | Promise<void>;

export interface FakeLlm {
  baseURL: string;
  requests: SeenRequest[];
  maxInFlight: number;
  /** Responses whose connection closed before the server ended them. */
  abandoned: number;
  behave(behaviour: Behaviour): void;
  close(): Promise<void>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  let behaviour: Behaviour = (_req, res) => streamReply(res, ["ok"]);
  let inFlight = 0;
  const fake: FakeLlm = {
    baseURL: "",
    requests: [],
    maxInFlight: 0,
    abandoned: 0,
    behave: (b) => {
      behaviour = b;
      fake.requests = [];
      fake.maxInFlight = 0;
      fake.abandoned = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404).end(`{"error":{"message":"no route ${req.method} ${req.url}"}}`);
      return;
    }
    const seen = { body: JSON.parse(Buffer.concat(chunks).toString("utf8")), headers: req.headers };
    fake.requests.push(seen);
    inFlight++;
    fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
    res.on("close", () => {
      inFlight--;
      if (!res.writableEnded) fake.abandoned++;
    });
    await behaviour(seen, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes a chat-completions SSE stream: one delta per piece, `delayMs` apart, then [DONE]. */
export async function streamReply(res: http.ServerResponse, pieces: string[], delayMs = 0): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const [i, piece] of pieces.entries()) {
    if (delayMs) await sleep(delayMs);
    if (res.destroyed) return;
    const chunk = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model: "fake", choices: [{ index: 0, delta: { ...(i === 0 ? { role: "assistant" } : {}), content: piece }, finish_reason: null }] };
    res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }
  if (res.destroyed) return;
  res.write(`data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model: "fake", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
  res.end("data: [DONE]\n\n");
}

/** An OpenAI-style error answer; `retry-after-ms` keeps the client's back-off short in tests. */
export function errorReply(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json", "retry-after-ms": "10" });
  res.end(JSON.stringify({ error: { message, type: "server_error", code: null } }));
}
