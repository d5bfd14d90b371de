// Server-sent events read with fetch(), because EventSource cannot send the Authorization header the
// API needs. Parses the text/event-stream format (event:/data: lines, blank line between events).
import { send } from "./api.ts";

export interface StreamEvent {
  event: string;
  data: string;
}

/** Calls `onEvent` for each event of GET `path` until the server ends the stream (or `signal` aborts). */
export async function readEvents(path: string, onEvent: (e: StreamEvent) => void, signal?: AbortSignal): Promise<void> {
  const response = await send(path, { headers: { accept: "text/event-stream" }, signal });
  if (!response.body) throw new Error(`${path} answered no stream`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const parsed = parseBlock(block);
      if (parsed) onEvent(parsed);
    }
  }
}

function parseBlock(block: string): StreamEvent | null {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return data.length ? { event, data: data.join("\n") } : null; // comments (keep-alives), retry: lines
}
