// The public page: choose, drop or paste images, pick a model and options, caption them through
// POST /v1/captions and show the results. Wiring only: the calls are in api.ts, the options form in
// form.ts, the results in render.ts, the error wording in errors.ts.
import { ApiFailure, apiKey, caption, type CaptionResponse, listModels, type ModelStatus, openapi } from "./api.ts";
import { byId, h } from "./dom.ts";
import { errorContent } from "./errors.ts";
import { type CaptionForm, captionForm, fieldControl, readOptions } from "./form.ts";
import { resultCard } from "./render.ts";

const form = byId<HTMLFormElement>("caption-form");
const fileInput = byId<HTMLInputElement>("file");
const dropZone = byId("drop-zone");
const previews = byId<HTMLUListElement>("previews");
const modelSelect = byId<HTMLSelectElement>("model");
const modelHint = byId("model-hint");
const submitButton = byId<HTMLButtonElement>("submit");
const status = byId("status");
const errorBox = byId("error");
const results = byId("results");
const keyBox = byId<HTMLDetailsElement>("key-box");
const keySummary = byId("key-summary");
const keyInput = byId<HTMLInputElement>("api-key");

let spec: CaptionForm = { primary: [], more: [], features: null };
let models: ModelStatus[] = [];
let busy = false;
let previewUrls: string[] = [];
let resultUrls: string[] = [];

// ---- API key ----

function showKeyState(): void {
  keySummary.textContent = apiKey.get() ? "API key (set)" : "API key";
}

keyInput.value = apiKey.get();
showKeyState();
keyInput.addEventListener("change", () => {
  apiKey.set(keyInput.value);
  showKeyState();
  void loadModels();
});
byId("forget-key").addEventListener("click", () => {
  keyInput.value = "";
  apiKey.set("");
  showKeyState();
  status.textContent = "API key forgotten.";
  keyInput.focus();
  void loadModels();
});

// ---- images: pick, drop, paste ----

const size = (bytes: number) => (bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

function showPreviews(): void {
  for (const url of previewUrls) URL.revokeObjectURL(url);
  const files = [...(fileInput.files ?? [])];
  previewUrls = files.map((f) => URL.createObjectURL(f));
  previews.replaceChildren(
    ...files.map((f, i) =>
      h(
        "li",
        {},
        // Only images get a thumbnail; anything else is still sent, and the server says what it is.
        f.type.startsWith("image/") ? h("img", { src: previewUrls[i], alt: "", width: 48, height: 48 }) : h("span", { class: "no-thumb", "aria-hidden": "true" }),
        h("span", {}, f.name),
        h("span", { class: "hint" }, ` ${size(f.size)}${f.type && !f.type.startsWith("image/") ? `, ${f.type}` : ""}`),
      ),
    ),
  );
}

/** Dropped or pasted files go into the file input, so there is one place that holds the choice. */
function chooseFiles(files: File[], how: string): void {
  const transfer = new DataTransfer();
  for (const file of files) transfer.items.add(file);
  fileInput.files = transfer.files;
  showPreviews();
  status.textContent = `${files.length === 1 ? `${files[0]!.name}` : `${files.length} images`} ${how}.`;
}

fileInput.addEventListener("change", showPreviews);
const carriesFiles = (e: DragEvent) => e.dataTransfer?.types.includes("Files") ?? false;
document.addEventListener("dragover", (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault(); // the whole page is a drop target (instead of the browser opening the file)
  dropZone.classList.add("dragging");
});
document.addEventListener("dragleave", (e) => {
  if (e.relatedTarget === null) dropZone.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  dropZone.classList.remove("dragging");
  if (!carriesFiles(e)) return;
  e.preventDefault();
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length > 0) chooseFiles(files, "dropped");
});
document.addEventListener("paste", (e) => {
  const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
  if (files.length === 0) return; // text pasted into a field stays text
  e.preventDefault();
  chooseFiles(files, "pasted");
});

// ---- models and options, from the server ----

function showModelHint(): void {
  const m = models.find((x) => x.name === modelSelect.value);
  if (!m) return;
  const state = m.state === "failed" ? `failed to load: ${m.error ?? "see the server log"}` : m.state === "loading" ? "still loading" : m.state === "remote" ? "served by workers" : "ready";
  modelHint.textContent = `${m.source} — ${state}`;
}

async function loadModels(): Promise<void> {
  const previous = modelSelect.value;
  try {
    const list = await listModels();
    models = list.models;
    const chosen = models.some((m) => m.name === previous) ? previous : list.default;
    modelSelect.replaceChildren(
      ...models.map((m) =>
        h(
          "option",
          { value: m.name, selected: m.name === chosen },
          `${m.name}${m.name === list.default ? " (default)" : ""}${m.state === "loading" || m.state === "failed" ? ` — ${m.state}` : ""}`,
        ),
      ),
    );
    modelSelect.value = chosen;
    showModelHint();
  } catch (error) {
    models = [];
    modelSelect.replaceChildren(h("option", { value: "" }, "server default"));
    modelHint.textContent =
      error instanceof ApiFailure && error.status === 401
        ? "This server needs an API key to list its models: paste one under “API key” at the top. The default model is used meanwhile."
        : `The models could not be listed (${(error as Error).message}); the server's default model is used.`;
  }
}
modelSelect.addEventListener("change", showModelHint);

async function loadOptions(): Promise<void> {
  const hint = byId("options-hint");
  try {
    spec = captionForm(await openapi());
  } catch (error) {
    hint.textContent = `The options could not be read from /openapi.json (${(error as Error).message}); the server's defaults are used.`;
    hint.hidden = false;
    return;
  }
  byId("options-primary").replaceChildren(...spec.primary.map(fieldControl));
  byId("options-more").replaceChildren(...spec.more.map(fieldControl));
  byId("options-more-box").hidden = spec.more.length === 0;
}

// ---- captioning ----

function setBusy(on: boolean, message = ""): void {
  busy = on;
  // aria-disabled, not disabled: a disabled button would drop the keyboard focus to the page.
  submitButton.setAttribute("aria-disabled", String(on));
  submitButton.textContent = on ? "Captioning…" : "Caption";
  results.setAttribute("aria-busy", String(on));
  status.textContent = message;
}

function showError(content: HTMLElement | null): void {
  errorBox.replaceChildren(...(content ? [content] : []));
}

function showResults(response: CaptionResponse, files: File[]): void {
  for (const url of resultUrls) URL.revokeObjectURL(url);
  resultUrls = files.map((f) => URL.createObjectURL(f));
  const list = Array.isArray(response.results) ? response.results : [];
  results.replaceChildren(
    ...list.map((r, i) => resultCard(i, { name: files[i]?.name ?? `Image ${i + 1}`, url: resultUrls[i] ?? "" }, r)),
    h("p", { class: "hint" }, "Model: ", h("code", {}, response.model)),
  );
}

async function submit(): Promise<void> {
  if (busy) return;
  showError(null);
  const files = [...(fileInput.files ?? [])];
  if (files.length === 0) {
    showError(h("p", {}, h("strong", {}, "Choose an image first:"), " pick a file, drop one on this page, or paste one."));
    fileInput.focus();
    return;
  }
  const options = readOptions([...spec.primary, ...spec.more], form);
  if ("invalid" in options) {
    const more = byId<HTMLDetailsElement>("options-more-box");
    if (more.contains(options.invalid)) more.open = true;
    showError(h("p", {}, h("strong", {}, "Check this option: "), options.why));
    options.invalid.focus();
    return;
  }
  const body = new FormData();
  for (const file of files) body.append("image", file, file.name);
  if (modelSelect.value) body.append("model", modelSelect.value);
  for (const [key, value] of options.values) body.append(key, value);
  if (spec.features) {
    if (spec.features.repeat) for (const f of spec.features.values) body.append(spec.features.key, f);
    else body.append(spec.features.key, spec.features.values.join(","));
  }
  setBusy(true, files.length === 1 ? "Captioning the image…" : `Captioning ${files.length} images…`);
  try {
    showResults(await caption(body), files);
    setBusy(false);
  } catch (error) {
    setBusy(false);
    showError(errorContent(error));
    if (error instanceof ApiFailure && error.status === 401) keyBox.open = true;
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  void submit();
});

void loadOptions();
void loadModels();
