// The Jobs view: start a draft, eval or train job on a dataset, follow the queue's jobs with live
// progress (GET /v1/jobs/{id}/events while a job is queued or running; polling GET /v1/jobs/{id} on
// a server without that route), cancel one, and fetch an
// eval's HTML report (an admin route: fetched with the key, offered as a download).
import { cancelJob, evalReport, getJob, type Job, jobEvents, type JobKind, listJobs, startJob } from "./admin_api.ts";
import { ciderHistogram } from "./admin_charts.ts";
import { attempt, fillSelect, say, when } from "./admin_ui.ts";
import { byId, h } from "./dom.ts";
import { readEvents } from "./events.ts";

/** How often a running job is asked for its progress when there is no event stream. */
const POLL_MS = 500;
const LISTED = 20;

const form = byId<HTMLFormElement>("job-form");
const kind = byId<HTMLSelectElement>("job-kind");
const dataset = byId<HTMLSelectElement>("job-dataset");
const model = byId<HTMLSelectElement>("job-model");
const split = byId<HTMLSelectElement>("job-split");
const epochs = byId<HTMLInputElement>("job-epochs");
const maxSteps = byId<HTMLInputElement>("job-steps");
const overwrite = byId<HTMLInputElement>("job-overwrite");
const reviewedOnly = byId<HTMLInputElement>("job-reviewed");
const tbody = byId("job-rows");
const chart = byId("job-chart");

/** Jobs being polled, so one is never polled twice. */
const active = new Set<string>();
const reports = new Map<string, Promise<string>>();
const settled = (job: Job) => job.state === "done" || job.state === "failed" || job.state === "cancelled";

export async function showJobs(datasets: readonly string[], models: readonly string[]): Promise<void> {
  fillSelect(dataset, datasets);
  fillSelect(model, models);
  showFields();
  const answer = await attempt(() => listJobs(LISTED));
  if (!answer) return;
  tbody.replaceChildren(...answer.jobs.map(row));
  for (const job of answer.jobs) if (!settled(job)) follow(job.id);
  if (answer.jobs.length === 0) tbody.replaceChildren(h("tr", { class: "none" }, h("td", { colspan: 5, class: "placeholder" }, "No jobs yet.")));
}

/** Which fields a kind of job takes. */
function showFields(): void {
  const k = kind.value as JobKind;
  byId("job-split-field").hidden = k === "train";
  byId("job-overwrite-field").hidden = k !== "draft";
  byId("job-reviewed-field").hidden = k === "draft";
  byId("job-epochs-field").hidden = k !== "train";
  byId("job-steps-field").hidden = k !== "train";
}

function body(k: JobKind): Record<string, unknown> {
  const base: Record<string, unknown> = { dataset: dataset.value, model: model.value || undefined };
  if (k === "draft") return { ...base, split: split.value || undefined, overwrite: overwrite.checked };
  if (k === "eval") return { ...base, split: split.value || undefined, reviewed_only: reviewedOnly.checked };
  // The train settings the form offers; the rest keep their defaults (the API takes them all).
  const settings = { ...(epochs.value ? { epochs: Number(epochs.value) } : {}), ...(maxSteps.value ? { max_steps: Number(maxSteps.value) } : {}) };
  return { ...base, reviewed_only: reviewedOnly.checked, ...(Object.keys(settings).length ? { settings } : {}) };
}

async function start(): Promise<void> {
  const k = kind.value as JobKind;
  if (!dataset.value) {
    say("Choose a dataset first (create one under Datasets).");
    dataset.focus();
    return;
  }
  for (const [input, name] of [[epochs, "Epochs"], [maxSteps, "Max steps"]] as const) {
    if (input.checkValidity()) continue;
    say(`${name}: ${input.validationMessage}`);
    input.focus();
    return;
  }
  const job = await attempt(() => startJob(k, body(k)));
  if (!job) return;
  tbody.querySelector("tr.none")?.remove();
  tbody.prepend(row(job));
  say(`${label(job)} started.`);
  follow(job.id);
}

const label = (job: Job) => `${job.kind} job ${job.id}`;

/** Follows a job until it settles, updating its row: its event stream, else (an older server) polling. */
function follow(id: string): void {
  if (active.has(id)) return;
  active.add(id);
  let last: Job | null = null;
  const done = (job: Job) => {
    active.delete(id);
    say(`${label(job)} ${job.state === "done" ? "is done" : job.state}${job.error ? `: ${job.error}` : ""}.`);
  };
  readEvents(jobEvents(id), (e) => {
    if (e.event !== "job") return;
    last = JSON.parse(e.data) as Job;
    update(last);
  }).then(
    () => (last && settled(last) ? done(last) : poll(id, done)), // a stream cut short: poll the rest
    () => poll(id, done),
  );
}

/** Asks GET /v1/jobs/{id} every POLL_MS until the job settles. */
function poll(id: string, done: (job: Job) => void): void {
  void untilSettled(id, update).then(done);
}

/**
 * Polls GET /v1/jobs/{id} every POLL_MS (more slowly while the server is away) and resolves with the
 * job once it is done, failed or cancelled; `onUpdate` sees every answer.
 */
export async function untilSettled(id: string, onUpdate: (job: Job) => void = () => {}): Promise<Job> {
  let wait = POLL_MS;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    let job: Job;
    try {
      job = await getJob(id);
    } catch {
      wait = POLL_MS * 4; // the server is away for a moment: keep asking, more slowly
      continue;
    }
    onUpdate(job);
    if (settled(job)) return job;
    wait = POLL_MS;
  }
}

function update(job: Job): void {
  tbody.querySelector(`tr[data-id="${CSS.escape(job.id)}"]`)?.replaceWith(row(job));
}

function row(job: Job): HTMLTableRowElement {
  const percent = Math.round(job.progress * 100);
  const cancel = h("button", { type: "button", class: "secondary", "aria-label": `Cancel ${label(job)}` }, "Cancel");
  cancel.addEventListener("click", () =>
    void attempt(async () => {
      update(await cancelJob(job.id));
      say(`${label(job)} cancelled.`);
    }),
  );
  return h(
    "tr",
    { "data-id": job.id, "data-state": job.state },
    h("th", { scope: "row" }, h("span", { class: "job-kind" }, job.kind), h("br"), h("code", { class: "hint" }, job.id), h("br"), h("span", { class: "hint" }, when(job.createdAt))),
    h("td", { class: `state state-${job.state}` }, job.state),
    h("td", {}, h("progress", { max: 100, value: percent, "aria-label": `${label(job)} progress` }), ` ${percent} %`),
    h("td", { class: "job-result" }, ...summary(job)),
    h("td", {}, settled(job) ? null : cancel),
  );
}

/** A line about a job's result, and for a done eval its report. */
function summary(job: Job): (Node | string)[] {
  if (job.error) return [h("span", { class: "error-message" }, job.error)];
  const r = job.result;
  if (!r || job.state !== "done") return job.details?.phase ? [String(job.details.phase)] : [];
  if (job.kind === "draft") return [`${r.drafted} of ${r.total} drafted`];
  if (job.kind === "eval") {
    const coco = (r.coco ?? {}) as Record<string, number>;
    const cider = typeof coco.CIDEr === "number" ? `CIDEr-D ${coco.CIDEr.toFixed(3)}` : "";
    return [`${r.n} items ${r.split}${cider ? `, ${cider}` : ""} `, reportLink(job.id), " ", histogramButton(job)];
  }
  if (job.kind === "train" && typeof r.id === "string") return [`version ${r.id} (see Versions)`];
  return [];
}

/** Shows the job's per-item CIDEr-D histogram under the table. */
function histogramButton(job: Job): HTMLButtonElement {
  const button = h("button", { type: "button", class: "secondary", "aria-label": `CIDEr-D histogram of ${label(job)}`, "aria-controls": "job-chart" }, "Histogram");
  button.addEventListener("click", () => {
    const items = Array.isArray(job.result?.items) ? (job.result.items as { coco?: { CIDEr?: number } }[]) : [];
    const scores = items.map((i) => i.coco?.CIDEr).filter((v): v is number => typeof v === "number");
    chart.replaceChildren(ciderHistogram(`Eval job ${job.id}`, scores));
    chart.hidden = false;
    chart.focus();
  });
  return button;
}

/** The eval report as a download: the route needs the key, which a plain link cannot send. */
function reportLink(id: string): HTMLElement {
  const link = h("a", { class: "report-link", download: `eval-report-${id}.html`, "aria-disabled": "true" }, "Eval report (HTML)");
  let url = reports.get(id);
  if (!url) {
    url = evalReport(id).then((blob) => URL.createObjectURL(blob));
    url.catch(() => reports.delete(id));
    reports.set(id, url);
  }
  url.then(
    (href) => {
      link.setAttribute("href", href);
      link.removeAttribute("aria-disabled");
    },
    (error: Error) => link.replaceWith(h("span", { class: "hint" }, `report unavailable: ${error.message}`)),
  );
  return link;
}

kind.addEventListener("change", showFields);
form.addEventListener("submit", (e) => {
  e.preventDefault();
  void start();
});
