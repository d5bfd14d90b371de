// The admin console at /admin: log in with an admin API key (kept for the tab, as on the public
// page), then four views — Datasets, Review, Jobs, Versions — each in its own module. This file
// only wires the login and the navigation.
import { ApiFailure, apiKey, listModels } from "./api.ts";
import { checkAdmin, listDatasets } from "./admin_api.ts";
import { showDatasets } from "./admin_datasets.ts";
import { showJobs } from "./admin_jobs.ts";
import { showReview } from "./admin_review.ts";
import { clearError, dropImages, say } from "./admin_ui.ts";
import { showVersions } from "./admin_versions.ts";
import { byId, h } from "./dom.ts";
import { errorContent } from "./errors.ts";

type View = "datasets" | "review" | "jobs" | "versions";
const VIEWS: readonly View[] = ["datasets", "review", "jobs", "versions"];

const loginForm = byId<HTMLFormElement>("login-form");
const keyInput = byId<HTMLInputElement>("admin-key");
const loginError = byId("login-error");
const consoleBox = byId("console");
const session = byId("session");

// ---- login ----

/** Why a key cannot open the console, in words that say what to do. */
function loginProblem(error: unknown): HTMLElement {
  const advice =
    error instanceof ApiFailure && error.status === 401
      ? "Paste a key this server knows (the admin's `captioner keys create --role admin` prints one)."
      : error instanceof ApiFailure && error.status === 403
        ? "The console needs a key with the admin role; this one may not use the admin routes."
        : null;
  const box = h("div", {}, errorContent(error));
  if (advice) box.prepend(h("p", { class: "login-advice" }, advice));
  return box;
}

async function logIn(key: string): Promise<boolean> {
  const previous = apiKey.get();
  apiKey.set(key);
  try {
    await checkAdmin();
  } catch (error) {
    apiKey.set(previous === key ? "" : previous); // a refused key is not kept
    loginError.replaceChildren(loginProblem(error));
    return false;
  }
  loginError.replaceChildren();
  loginForm.hidden = true;
  consoleBox.hidden = false;
  session.hidden = false;
  byId("session-text").textContent = "Logged in with an admin key.";
  await go(viewFromHash(), false);
  return true;
}

function logOut(): void {
  apiKey.set("");
  dropImages();
  consoleBox.hidden = true;
  session.hidden = true;
  loginForm.hidden = false;
  keyInput.value = "";
  loginError.replaceChildren(h("p", {}, "Logged out: the key is forgotten in this tab."));
  keyInput.focus();
}

loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    loginError.replaceChildren(h("p", {}, h("strong", {}, "Paste an admin API key first.")));
    keyInput.focus();
    return;
  }
  void logIn(key);
});
byId("logout").addEventListener("click", logOut);

// ---- navigation ----

const viewFromHash = (): View => (VIEWS.find((v) => `#${v}` === location.hash) ?? "datasets");

async function go(view: View, focus = true): Promise<void> {
  for (const v of VIEWS) {
    byId(`view-${v}`).hidden = v !== view;
    const tab = byId(`nav-${v}`);
    if (v === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  clearError();
  say("");
  if (focus) byId(`${view}-heading`).focus();
  await refresh(view);
}

/** Fills a view with what the server has now. */
async function refresh(view: View): Promise<void> {
  if (view === "datasets") {
    await showDatasets();
    return;
  }
  if (view === "versions") {
    showVersions(await modelNames());
    return;
  }
  const datasets = (await listDatasets().catch(() => ({ datasets: [] }))).datasets.map((d) => d.name);
  if (view === "review") showReview(datasets);
  else await showJobs(datasets, await modelNames());
}

const modelNames = async () => {
  try {
    const list = await listModels();
    return [list.default, ...list.models.map((m) => m.name).filter((n) => n !== list.default)];
  } catch {
    return [];
  }
};

for (const v of VIEWS) byId(`nav-${v}`).addEventListener("click", () => void go(v));

// A key kept from earlier in this tab logs in by itself.
const kept = apiKey.get();
if (kept) void logIn(kept);
else keyInput.focus();
