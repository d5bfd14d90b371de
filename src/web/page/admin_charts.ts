// The console's two charts, drawn by uPlot (a small canvas charting library, bundled: no CDN): the
// CIDEr-D histogram of an eval job's items, and a version's training loss and validation CIDEr-D per
// epoch. Each chart comes with its numbers as text (figcaption + a table) for screen readers.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom.ts";

const WIDTH = 640;
const HEIGHT = 240;
const BINS = 10;

/** Counts of `values` in BINS equal bins from 0 to the largest value (at least 1). */
export function bins(values: readonly number[]): { lo: number; hi: number; count: number }[] {
  const top = Math.max(1, ...values);
  const counts = new Array<number>(BINS).fill(0);
  for (const v of values) counts[Math.min(BINS - 1, Math.max(0, Math.floor((v / top) * BINS)))]!++;
  return counts.map((count, i) => ({ lo: (i / BINS) * top, hi: ((i + 1) / BINS) * top, count }));
}

const css = (name: string, fallback: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

function table(caption: string, head: string[], rows: (string | number)[][]): HTMLTableElement {
  return h(
    "table",
    { class: "visually-hidden chart-data" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

/** A figure with the histogram of per-item CIDEr-D scores. */
export function ciderHistogram(title: string, scores: readonly number[]): HTMLElement {
  const b = bins(scores);
  const mean = scores.reduce((s, v) => s + v, 0) / Math.max(1, scores.length);
  const figure = h(
    "figure",
    { class: "chart", "data-chart": "cider-histogram" },
    h("figcaption", {}, `${title}: CIDEr-D of ${scores.length} item${scores.length === 1 ? "" : "s"}, mean ${mean.toFixed(3)}, from ${Math.min(...scores).toFixed(3)} to ${Math.max(...scores).toFixed(3)}`),
  );
  const plot = h("div", { "aria-hidden": "true" });
  figure.append(plot, table("Items per CIDEr-D range", ["CIDEr-D from", "to", "items"], b.map((x) => [x.lo.toFixed(2), x.hi.toFixed(2), x.count])));
  const accent = css("--accent", "#1a5fb4");
  new uPlot(
    {
      width: WIDTH,
      height: HEIGHT,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [0, b.at(-1)!.hi] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [{ label: "CIDEr-D" }, { label: "items", incrs: [1, 2, 5, 10, 20, 50, 100] }],
      series: [{}, { label: "items", fill: accent, stroke: accent, paths: uPlot.paths.bars!({ size: [0.9, Infinity], align: 0 }), points: { show: false } }],
    },
    [b.map((x) => x.lo), b.map((x) => x.count)],
    plot,
  );
  return figure;
}

/** A figure with a version's training loss (left axis) and validation CIDEr-D (right axis) per epoch. */
export function epochCurves(title: string, trainLoss: readonly number[], cider: readonly (number | null)[]): HTMLElement {
  const epochs = Array.from({ length: Math.max(trainLoss.length, cider.length) }, (_, i) => i + 1);
  const figure = h(
    "figure",
    { class: "chart", "data-chart": "epoch-curves" },
    h("figcaption", {}, `${title}: training loss and validation CIDEr-D over ${epochs.length} epoch${epochs.length === 1 ? "" : "s"}`),
  );
  const plot = h("div", { "aria-hidden": "true" });
  figure.append(
    plot,
    table("Per epoch", ["epoch", "training loss", "validation CIDEr-D"], epochs.map((e) => [e, trainLoss[e - 1]?.toFixed(4) ?? "–", cider[e - 1]?.toFixed(3) ?? "–"])),
  );
  new uPlot(
    {
      width: WIDTH,
      height: HEIGHT,
      scales: { x: { time: false }, cider: {} },
      axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50] }, { label: "training loss" }, { label: "validation CIDEr-D", side: 1, scale: "cider", grid: { show: false } }],
      series: [
        { label: "epoch" },
        { label: "training loss", stroke: css("--accent", "#1a5fb4"), width: 2 },
        { label: "validation CIDEr-D", stroke: css("--focus", "#e66100"), width: 2, scale: "cider" },
      ],
    },
    [epochs, epochs.map((e) => trainLoss[e - 1] ?? null), epochs.map((e) => cider[e - 1] ?? null)],
    plot,
  );
  return figure;
}
