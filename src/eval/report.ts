// The HTML report of an evaluation: one self-contained page (inline CSS, images as data URIs,
// the histogram as inline SVG) that can be mailed or archived and opened anywhere offline.
import * as fs from "node:fs/promises";
import sharp from "sharp";
import { COCO_METRICS, type CocoMetric } from "../metrics/coco.js";
import type { CorpusScores } from "../metrics/corpus.js";
import type { EvaluationResult } from "./evaluate.js";

/** What the report says about the run besides the scores. */
export interface ReportInfo {
  model: string;
  dataset: string;
  /** When the evaluation ran (default: now). */
  date?: Date;
  /** Extra settings worth recording (split, generation options…), shown as a list. */
  settings?: Record<string, string | number | boolean | undefined>;
}

/**
 * Scores as a text table under `title`, one metric a row (COCO metrics, WER/CER, rouge_score F plain
 * and stemmed), then the `extra` rows as [label, value, digits]: what `eval` and `metrics` print.
 */
export function formatScores(title: string, scores: Omit<CorpusScores, "items">, extra: readonly [string, number, number][] = []): string {
  const row = (label: string, value: number, digits = 4) => `  ${label.padEnd(22)} ${value.toFixed(digits).padStart(9)}\n`;
  let out = `${title}\n`;
  for (const k of COCO_METRICS) out += row(k === "CIDEr" ? "CIDEr-D" : k === "METEOR" ? "METEOR (no para.)" : k, scores.coco[k]);
  for (const [k, v] of Object.entries(scores.jiwer)) out += row(k.toUpperCase(), v);
  for (const [k, v] of Object.entries(scores.rouge)) out += row(`${k} F`, v);
  for (const [k, v] of Object.entries(scores.rouge_stemmed)) out += row(`${k} F (stemmed)`, v);
  for (const [label, value, digits] of extra) out += row(label, value, digits);
  return out;
}

/** Thumbnails wider or taller than this are scaled down, so a 5,000-image report stays small. */
const THUMBNAIL_SIDE = 160;

/** Escapes text for HTML content and attribute values: escapeHtml('<a & "b">') → '&lt;a &amp; &quot;b&quot;&gt;'. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/**
 * An image file as a `data:` URI small enough to inline: kept as is when it already fits
 * {@link THUMBNAIL_SIDE}, else scaled down to a JPEG. Undefined when the file cannot be read or decoded.
 */
export async function thumbnailDataUri(file: string): Promise<string | undefined> {
  try {
    const bytes = await fs.readFile(file);
    const meta = await sharp(bytes).metadata();
    const mime = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif" }[meta.format as string];
    if (mime && (meta.width ?? Infinity) <= THUMBNAIL_SIDE && (meta.height ?? Infinity) <= THUMBNAIL_SIDE) return `data:${mime};base64,${bytes.toString("base64")}`;
    const small = await sharp(bytes, { animated: false })
      .resize({ width: THUMBNAIL_SIDE, height: THUMBNAIL_SIDE, fit: "inside", withoutEnlargement: true })
      .flatten({ background: "#ffffff" })
      .jpeg({ quality: 80 })
      .toBuffer();
    return `data:image/jpeg;base64,${small.toString("base64")}`;
  } catch {
    return undefined;
  }
}

/** Builds the report of `result`, reading each item's image from `files` (same order as `result.items`) for its thumbnail. */
export async function buildReport(result: EvaluationResult, info: ReportInfo, files: readonly string[]): Promise<string> {
  const thumbnails: (string | undefined)[] = [];
  for (const file of files) thumbnails.push(await thumbnailDataUri(file)); // one at a time: bounded memory
  return renderReport(result, info, thumbnails);
}

/** The report page as HTML text; `thumbnails[i]` is item i's data URI (or undefined: no picture). */
export function renderReport(result: EvaluationResult, info: ReportInfo, thumbnails: readonly (string | undefined)[]): string {
  const date = (info.date ?? new Date()).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const settings = Object.entries(info.settings ?? {}).filter(([, v]) => v !== undefined);
  const facts: [string, string][] = [
    ["Model", info.model],
    ["Dataset", info.dataset],
    ["Date", date],
    ["Images", String(result.n)],
    ["Images / s", result.images_per_s.toFixed(2)],
    ...settings.map(([k, v]): [string, string] => [k, String(v)]),
  ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Caption evaluation: ${escapeHtml(info.model)} on ${escapeHtml(info.dataset)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Caption evaluation</h1>
<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>
<h2>Corpus metrics</h2>
${metricsTables(result)}
<h2>Per-item CIDEr-D</h2>
${histogramSvg(result.items.map((it) => it.coco.CIDEr))}
<h2>Items</h2>
${itemsTable(result, thumbnails)}
<footer>METEOR is Meteor 1.5 without the paraphrase module. CIDEr-D and the other COCO metrics use PTB-tokenized captions, as COCOEvalCap.</footer>
</body>
</html>
`;
}

const COCO_LABELS: Record<CocoMetric, string> = {
  Bleu_1: "BLEU-1", Bleu_2: "BLEU-2", Bleu_3: "BLEU-3", Bleu_4: "BLEU-4", METEOR: "METEOR (no paraphrase)", ROUGE_L: "ROUGE-L", CIDEr: "CIDEr-D",
};

function metricsTables(r: EvaluationResult): string {
  const rows = (pairs: [string, number][]) => pairs.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td class="num">${v.toFixed(4)}</td></tr>`).join("");
  const table = (caption: string, pairs: [string, number][]) => `<table class="metrics"><caption>${escapeHtml(caption)}</caption><tbody>${rows(pairs)}</tbody></table>`;
  const rouge = (Object.keys(r.rouge) as (keyof typeof r.rouge)[]).map((k): [string, number] => [k, r.rouge[k]]);
  const stemmed = (Object.keys(r.rouge_stemmed) as (keyof typeof r.rouge_stemmed)[]).map((k): [string, number] => [k, r.rouge_stemmed[k]]);
  return `<div class="tables">
${table("COCO caption metrics", COCO_METRICS.map((k): [string, number] => [COCO_LABELS[k], r.coco[k]]))}
${table("jiwer (first reference)", Object.entries(r.jiwer).map(([k, v]): [string, number] => [k.toUpperCase(), v]))}
${table("rouge_score F (mean)", rouge)}
${table("rouge_score F, Porter stemmer", stemmed)}
</div>`;
}

function itemsTable(r: EvaluationResult, thumbnails: readonly (string | undefined)[]): string {
  const body = r.items
    .map((it, i) => {
      const src = thumbnails[i];
      const picture = src ? `<img src="${escapeHtml(src)}" alt="${escapeHtml(it.id)}" width="96" height="96">` : `<span class="missing">no preview</span>`;
      const refs = it.references.map((ref) => `<li>${escapeHtml(ref)}</li>`).join("");
      return `<tr><td class="num">${i + 1}</td><td class="thumb">${picture}<div class="id">${escapeHtml(it.id)}</div></td><td class="pred">${escapeHtml(it.prediction)}</td><td><ol>${refs}</ol></td><td class="num">${it.coco.CIDEr.toFixed(3)}</td></tr>`;
    })
    .join("\n");
  return `<table class="items"><thead><tr><th>#</th><th>Image</th><th>Prediction</th><th>References</th><th>CIDEr-D</th></tr></thead><tbody>
${body}
</tbody></table>`;
}

/** A "nice" upper bound for the axis: 1, 2 or 5 times a power of ten, ≥ value. */
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((c) => c >= value * (1 - 1e-12))!;
}

/** A bar histogram of `values` in 20 equal bins from 0 to a nice maximum, as inline SVG. */
export function histogramSvg(values: readonly number[], bins = 20): string {
  const top = niceCeiling(Math.max(0, ...values));
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v / top) * bins)))]!++;
  const maxCount = Math.max(1, ...counts);
  const [W, H, left, right, topPad, bottom] = [720, 260, 48, 16, 16, 44];
  const plotW = W - left - right;
  const plotH = H - topPad - bottom;
  const barW = plotW / bins;
  const y = (c: number) => topPad + plotH - (c / maxCount) * plotH;
  const bars = counts
    .map((c, i) => {
      const lo = (i / bins) * top;
      const hi = ((i + 1) / bins) * top;
      const x = left + i * barW;
      const label = c > 0 ? `<text x="${fmt(x + barW / 2)}" y="${fmt(y(c) - 4)}" class="count">${c}</text>` : "";
      return `<rect x="${fmt(x + 1)}" y="${fmt(y(c))}" width="${fmt(barW - 2)}" height="${fmt(topPad + plotH - y(c))}"><title>${escapeHtml(`${lo.toFixed(3)}–${hi.toFixed(3)}: ${c} item${c === 1 ? "" : "s"}`)}</title></rect>${label}`;
    })
    .join("");
  const xTicks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<text x="${fmt(left + f * plotW)}" y="${H - bottom + 16}" class="tick">${+(f * top).toPrecision(3)}</text>`)
    .join("");
  const yTicks = [0, 0.5, 1]
    .map((f) => Math.round(f * maxCount))
    .filter((c, i, all) => all.indexOf(c) === i)
    .map((c) => `<text x="${left - 6}" y="${fmt(y(c) + 4)}" class="tick y">${c}</text><line x1="${left}" x2="${W - right}" y1="${fmt(y(c))}" y2="${fmt(y(c))}" class="grid"/>`)
    .join("");
  return `<svg class="histogram" viewBox="0 0 ${W} ${H}" role="img" aria-label="Histogram of per-item CIDEr-D (${values.length} items)" xmlns="http://www.w3.org/2000/svg">
${yTicks}${bars}${xTicks}
<line x1="${left}" x2="${W - right}" y1="${topPad + plotH}" y2="${topPad + plotH}" class="axis"/>
<text x="${fmt(left + plotW / 2)}" y="${H - 6}" class="label">CIDEr-D per item</text>
<text x="12" y="${fmt(topPad + plotH / 2)}" class="label" transform="rotate(-90 12 ${fmt(topPad + plotH / 2)})">items</text>
</svg>`;
}

const fmt = (x: number) => String(Math.round(x * 10) / 10);

const CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2329; background: #fff; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .8rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #dde2e6; padding-bottom: .2rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
.facts dt { font-weight: 600; color: #56606a; }
.facts dd { margin: 0; word-break: break-all; }
.tables { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: flex-start; }
table { border-collapse: collapse; }
caption { text-align: left; font-weight: 600; padding-bottom: .3rem; white-space: nowrap; }
.metrics th, .metrics td { padding: .2rem .7rem; border-bottom: 1px solid #edf0f2; text-align: left; font-weight: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.items { width: 100%; }
.items th { white-space: nowrap; text-align: left; background: #f3f5f7; padding: .4rem .6rem; position: sticky; top: 0; }
.items td { padding: .4rem .6rem; border-bottom: 1px solid #edf0f2; vertical-align: top; }
.items ol { margin: 0; padding-left: 1.2rem; }
.items .pred { font-weight: 600; }
.thumb img { display: block; width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated; background: #f3f5f7; }
.thumb .id { font-size: .75rem; color: #56606a; }
.missing { color: #a33; font-size: .8rem; }
.histogram { width: 100%; max-width: 720px; height: auto; }
.histogram rect { fill: #3b76c4; }
.histogram .axis { stroke: #1d2329; }
.histogram .grid { stroke: #e3e7ea; }
.histogram text { font-size: 11px; fill: #444; text-anchor: middle; }
.histogram .tick.y { text-anchor: end; }
.histogram .label { font-size: 12px; }
.histogram .count { font-size: 10px; fill: #1d2329; }
footer { margin-top: 2rem; font-size: .8rem; color: #56606a; }
`;
