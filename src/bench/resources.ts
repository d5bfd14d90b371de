// The resource findings of issue 15, reproduced against a running server (start it first, e.g.
//   npx captioner serve --port 8000 --model blip=../shared/golden/blip/base_like_32px
// then: node dist/src/bench/resources.js --url http://127.0.0.1:8000 --pid $(pgrep -f 'captioner serve') [--json]):
//   1. huge pixels in small files: 8 × a 7000×7000 16-bit RGBA PNG at once → answers, time, the
//      server's RSS (peak from /proc/PID/status), /healthz latency meanwhile;
//   2. goodput under overload: closed-loop clients (50, then 200) captioning a small image for
//      --seconds each → captions/s, 503s, /healthz latency;
//   3. big JSON bodies: a ≈ 400 MiB caption request, then a ≈ 160 MiB job → answer, time, /healthz latency;
//   4. body limits: a multipart request declaring 10^12 bytes, a JSON body over the route's limit →
//      status and time to answer; with --slow, a client trickling its body (→ 408 after bodyTimeoutMs).
// Every figure is measured from outside, as a client sees it (node's fetch / raw sockets).
import * as fs from "node:fs";
import * as net from "node:net";
import sharp from "sharp";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const base = flag("--url", "http://127.0.0.1:8000").replace(/\/$/, "");
const pid = args.includes("--pid") ? Number(flag("--pid", "0")) : undefined;
const seconds = Number(flag("--seconds", "10"));
const json = args.includes("--json");

/** The server's current and peak RSS in MB (Linux /proc), or null without --pid. */
function rss(): { nowMB: number; peakMB: number } | null {
  if (!pid) return null;
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(/(\d+) kB/.exec(status.split("\n").find((l) => l.startsWith(key)) ?? "")?.[1] ?? 0);
  return { nowMB: Math.round(kb("VmRSS:") / 1024), peakMB: Math.round(kb("VmHWM:") / 1024) };
}

/** Polls /healthz every 50 ms until `stop()`; returns the median, 99th-percentile and worst latency in ms. */
function watchHealth() {
  const latencies: number[] = [];
  let running = true;
  let peakRssMB = 0;
  const loop = (async () => {
    while (running) {
      const asked = performance.now();
      await fetch(`${base}/healthz`).then((r) => r.arrayBuffer()).catch(() => undefined);
      latencies.push(performance.now() - asked);
      peakRssMB = Math.max(peakRssMB, rss()?.nowMB ?? 0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    running = false;
    await loop;
    const sorted = latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.floor(sorted.length * q)] ?? 0);
    return { healthzP50Ms: at(0.5), healthzP99Ms: at(0.99), healthzMaxMs: Math.round(sorted.at(-1) ?? 0), sampledPeakRssMB: peakRssMB || null };
  };
}

function form(file: Buffer, type = "image/png"): FormData {
  const body = new FormData();
  body.append("image", new Blob([file], { type }), "image.png");
  return body;
}

async function hugePixels() {
  const file = await sharp({ create: { width: 7000, height: 7000, channels: 4, background: { r: 120, g: 30, b: 200, alpha: 0.5 } } }).toColourspace("rgb16").png({ compressionLevel: 9 }).toBuffer();
  const stop = watchHealth();
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(`${base}/v1/captions`, { method: "POST", body: form(file) }).then(async (r) => ({ status: r.status, code: r.ok ? "" : ((await r.json()) as { error?: { code?: string } }).error?.code }))));
  const seconds = (performance.now() - started) / 1000;
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[`${a.status}${a.code ? ` ${a.code}` : ""}`] = (statuses[`${a.status}${a.code ? ` ${a.code}` : ""}`] ?? 0) + 1;
  return { fileKB: Math.round(file.length / 1024), requests: 8, seconds: Number(seconds.toFixed(1)), statuses, ...(await stop()), serverPeakRssMB: rss()?.peakMB ?? null };
}

/**
 * One big JSON body (`images` of 20 MiB each, base64) sent while /healthz is polled: the stall a
 * 405 MB request caused. The bytes are no image, so the answer is 415 once the body is read and decoded.
 */
async function bigJson(route: string, images: number) {
  const image = Buffer.alloc(20 * 1024 * 1024 - 1000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 2654435761) >>> 24;
  // Encoded before the clock starts: fetch would otherwise encode the string while /healthz is being polled from this same process.
  const body = Buffer.from(JSON.stringify({ images: new Array(images).fill(image.toString("base64")), options: { max_new_tokens: 2 } }));
  const stop = watchHealth();
  const started = performance.now();
  const res = await fetch(`${base}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const answer = `${res.status} ${((await res.json()) as { error?: { code?: string } }).error?.code ?? ""}`.trim();
  const ms = Math.round(performance.now() - started);
  await new Promise((r) => setTimeout(r, 200));
  return { route, bodyMiB: Math.round(body.length / 2 ** 20), answer, ms, ...(await stop()) };
}

async function goodput(clients: number) {
  const file = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 20, g: 160, b: 90 } } }).jpeg().toBuffer();
  const deadline = performance.now() + seconds * 1000;
  let ok = 0;
  let busy = 0;
  let other = 0;
  const stop = watchHealth();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < deadline) {
      const res = await fetch(`${base}/v1/captions`, { method: "POST", body: form(file, "image/jpeg") }).catch(() => null);
      await res?.arrayBuffer();
      if (res?.status === 200) ok++;
      else if (res?.status === 503) {
        busy++;
        // A polite client waits as told (closed loop): Retry-After, capped to keep the loop busy.
        await new Promise((r) => setTimeout(r, Math.min(1000, Number(res.headers.get("retry-after") ?? 1) * 1000)));
      } else other++;
    }
  }));
  return { clients, seconds, captionsPerSecond: Number((ok / seconds).toFixed(1)), refused503: busy, otherAnswers: other, ...(await stop()) };
}

/** Sends raw bytes and waits for the answer's status line (or the connection's end). */
function raw(head: string, body: Buffer | null, trickle = false): Promise<{ status: number | null; ms: number }> {
  return new Promise((resolve) => {
    const url = new URL(base);
    const started = performance.now();
    const socket = net.connect(Number(url.port || 80), url.hostname);
    let out = "";
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearInterval(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1]) || null, ms: Math.round(performance.now() - started) });
    };
    socket.on("data", (d) => {
      out += d;
      if (/\r\n\r\n/.test(out)) done();
    });
    socket.on("close", done);
    socket.on("error", done);
    socket.write(head);
    if (body && !trickle) socket.write(body);
    if (body && trickle) {
      let at = 0;
      timer = setInterval(() => (at < body.length ? socket.write(body.subarray(at, ++at)) : undefined), 1000);
    }
  });
}

async function bodyLimits(slow: boolean) {
  const declared = await raw("POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000000000\r\n\r\n", null);
  // A 1 GB JSON job (over the route's limit, maxJobBytes = 128 MiB as base64 + 1 MiB ≈ 172 MiB by default): its
  // first MB is sent, then the answer awaited (the server answers from the declared length at once).
  const json = await raw(`POST /v1/jobs/captions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1024 ** 3}\r\n\r\n`, Buffer.alloc(1024 * 1024, 0x61));
  const rows: Record<string, { status: number | null; ms: number }> = { "multipart declaring 10^12 bytes": declared, "JSON job declaring 1 GB": json };
  if (slow) rows["slow client (1 byte/s)"] = await raw("POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", Buffer.alloc(100, 0x20), true);
  return rows;
}

const results = {
  server: base,
  hugePixels: await hugePixels(),
  goodput: [await goodput(50), await goodput(200)],
  bigJson: [await bigJson("/v1/captions", 15), await bigJson("/v1/jobs/captions", 6)],
  bodyLimits: await bodyLimits(args.includes("--slow")),
};
if (json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  const h = results.hugePixels;
  console.log(`8 × ${h.fileKB} KB PNG (7000×7000 16-bit RGBA): ${JSON.stringify(h.statuses)} in ${h.seconds} s; /healthz p50 ${h.healthzP50Ms} / p99 ${h.healthzP99Ms} / max ${h.healthzMaxMs} ms; server peak RSS ${h.serverPeakRssMB ?? "? (--pid)"} MB`);
  for (const g of results.goodput) console.log(`${g.clients} clients, ${g.seconds} s: ${g.captionsPerSecond} captions/s, ${g.refused503} × 503, ${g.otherAnswers} other; /healthz p50 ${g.healthzP50Ms} / p99 ${g.healthzP99Ms} / max ${g.healthzMaxMs} ms`);
  const [g50, g200] = results.goodput;
  console.log(`goodput at 200 clients = ${((100 * g200!.captionsPerSecond) / Math.max(1e-9, g50!.captionsPerSecond)).toFixed(0)} % of 50 clients'`);
  for (const j of results.bigJson) console.log(`${j.bodyMiB} MiB JSON to ${j.route}: ${j.answer} after ${j.ms} ms; /healthz p50 ${j.healthzP50Ms} / p99 ${j.healthzP99Ms} / max ${j.healthzMaxMs} ms`);
  for (const [name, r] of Object.entries(results.bodyLimits)) console.log(`${name}: ${r.status ?? "no answer"} after ${r.ms} ms`);
}
