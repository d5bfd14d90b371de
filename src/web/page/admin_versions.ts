// The Versions view: a model's trained versions (validation CIDEr-D before → after, latency against
// the serving model) and promotion through the gate; a refused promotion lists the gate's reasons and
// may be retried with a reason to override it. (Routes of the train/versions feature, issue 13.)
import { ApiFailure } from "./api.ts";
import { listVersions, promote, type Version } from "./admin_api.ts";
import { epochCurves } from "./admin_charts.ts";
import { attempt, fillSelect, say, showError, when } from "./admin_ui.ts";
import { byId, h } from "./dom.ts";

const modelSelect = byId<HTMLSelectElement>("versions-model");
const rows = byId("version-rows");
const serving = byId("versions-serving");
const overrideField = byId("override-field");
const overrideReason = byId<HTMLInputElement>("override-reason");
const chart = byId("version-chart");

export function showVersions(models: readonly string[]): void {
  fillSelect(modelSelect, models);
}

async function load(): Promise<void> {
  const model = modelSelect.value;
  if (!model) return;
  const answer = await attempt(() => listVersions(model));
  if (!answer) return;
  serving.textContent = `${model} serves ${answer.serving ? `version ${answer.serving}` : "its configured source"}.`;
  rows.replaceChildren(...answer.versions.map((v) => row(model, v)));
  if (answer.versions.length === 0) rows.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "placeholder" }, "No versions yet: start a train job under Jobs.")));
  say(`${answer.versions.length} version${answer.versions.length === 1 ? "" : "s"} of ${model}.`);
}

const cider = (scores: Record<string, number> | undefined) => (typeof scores?.CIDEr === "number" ? scores.CIDEr.toFixed(3) : "–");

function row(model: string, v: Version): HTMLTableRowElement {
  const button = h("button", { type: "button", "aria-label": `Promote version ${v.id}` }, "Promote");
  button.addEventListener("click", () => void promoteVersion(model, v.id));
  return h(
    "tr",
    { "data-id": v.id },
    h("th", { scope: "row" }, h("code", {}, v.id), v.serving ? h("span", { class: "badge" }, " serving") : null),
    h("td", {}, v.dataset),
    h("td", { class: "number" }, `${cider(v.validation?.before)} → ${cider(v.validation?.after)}`),
    h("td", { class: "number" }, v.latency ? `${Math.round(v.latency.candidateMs)} vs ${Math.round(v.latency.servingMs)}` : "–"),
    h("td", {}, when(v.createdAt)),
    h("td", {}, v.serving ? null : button, " ", curvesButton(v)),
  );
}

/** Shows the version's loss and validation curves under the table. */
function curvesButton(v: Version): HTMLButtonElement {
  const b = h("button", { type: "button", class: "secondary", "aria-label": `Training curves of version ${v.id}`, "aria-controls": "version-chart" }, "Curves");
  b.addEventListener("click", () => {
    const cider = (v.validation?.epochs ?? []).map((e) => (typeof e.CIDEr === "number" ? e.CIDEr : null));
    chart.replaceChildren(epochCurves(`Version ${v.id}`, v.validation?.trainLoss ?? [], cider));
    chart.hidden = false;
    chart.focus();
  });
  return b;
}

async function promoteVersion(model: string, version: string): Promise<void> {
  const reason = overrideField.hidden ? "" : overrideReason.value.trim();
  try {
    const result = await promote(model, version, reason || undefined);
    overrideField.hidden = true;
    overrideReason.value = "";
    await load();
    say(result.unchanged ? `Version ${version} already serves ${model}.` : `${model} now serves version ${version}.`);
  } catch (error) {
    showError(error);
    const reasons = error instanceof ApiFailure ? (error.body as { error?: { reasons?: unknown } } | undefined)?.error?.reasons : undefined;
    if (error instanceof ApiFailure && error.code === "gate_refused") {
      if (Array.isArray(reasons)) byId("error").append(h("ul", {}, ...reasons.map((r) => h("li", {}, String(r)))));
      overrideField.hidden = false;
      say("The gate refused the version. To promote it anyway, give a reason and press Promote again.");
      overrideReason.focus();
    }
  }
}

byId("versions-load").addEventListener("click", () => void load());
modelSelect.addEventListener("change", () => void load());
