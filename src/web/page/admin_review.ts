// The Review view: a dataset's captions waiting for a reviewer (`reviewed=false&captioned=true`,
// drafts among them), one item at a time, decided by button or key: a accept, e edit, r reject,
// j/k next/previous. A decided item leaves the queue; the status line says what happened.
import { captionLines, type Item, listItems, review } from "./admin_api.ts";
import { attempt, fillSelect, imageUrl, say } from "./admin_ui.ts";
import { byId, h } from "./dom.ts";

/** How many waiting items one load fetches (pages of the API's maximum). */
const MAX_QUEUE = 1000;

const view = byId("view-review");
const datasetSelect = byId<HTMLSelectElement>("review-dataset");
const card = byId("review-card");
const image = byId<HTMLImageElement>("review-image");
const captions = byId<HTMLOListElement>("review-captions");
const position = byId("review-position");
const empty = byId("review-empty");
const editBox = byId("review-edit");
const editText = byId<HTMLTextAreaElement>("review-text");

let dataset = "";
let queue: Item[] = [];
let index = 0;

export function showReview(datasets: readonly string[]): void {
  fillSelect(datasetSelect, datasets);
  if (datasets.length === 0) empty.textContent = "No datasets yet: create one under Datasets.";
}

async function loadQueue(): Promise<void> {
  dataset = datasetSelect.value;
  if (!dataset) return;
  const items: Item[] = [];
  let cursor: string | null = null;
  do {
    const page = await attempt(() => listItems(dataset, { reviewed: false, captioned: true, limit: 1000, cursor }));
    if (!page) return;
    items.push(...page.items);
    cursor = page.next;
  } while (cursor !== null && items.length < MAX_QUEUE);
  queue = items;
  index = 0;
  render();
  say(queue.length ? `${queue.length} item${queue.length === 1 ? "" : "s"} of ${dataset} to review.` : `Nothing of ${dataset} waits for review.`);
  if (queue.length) card.focus();
}

function render(): void {
  closeEditor();
  const item = queue[index];
  card.hidden = !item;
  empty.textContent = item ? "" : dataset ? `Nothing of ${dataset} waits for review.` : "";
  if (!item) return;
  position.textContent = `Item ${index + 1} of ${queue.length} · ${item.split} · ${item.id}`;
  card.setAttribute("aria-label", `Item ${index + 1} of ${queue.length}: ${item.captions.join("; ")}`);
  image.removeAttribute("src");
  image.alt = item.captions[0] ?? "";
  const shown = item;
  imageUrl(dataset, item.id).then(
    (url) => {
      if (queue[index] === shown) image.src = url;
    },
    () => {},
  );
  captions.replaceChildren(...item.captions.map((c) => h("li", { class: "caption-text" }, c)));
}

function move(step: number): void {
  if (queue.length === 0) return;
  const next = Math.min(queue.length - 1, Math.max(0, index + step));
  if (next === index) {
    say(step > 0 ? "This is the last item." : "This is the first item.");
    return;
  }
  index = next;
  render();
  say(`Item ${index + 1} of ${queue.length}.`);
}

type Decision = { action: "accept" | "reject" } | { action: "edit"; captions: string[] };
const DONE: Record<Decision["action"], string> = { accept: "Accepted", edit: "Edited and accepted", reject: "Rejected" };

async function decide(decision: Decision): Promise<void> {
  const item = queue[index];
  if (!item) return;
  const answer = await attempt(() => review(dataset, item.id, decision));
  if (!answer) return;
  queue.splice(index, 1);
  index = Math.min(index, Math.max(0, queue.length - 1));
  render();
  say(`${DONE[decision.action]} item ${item.id}. ${queue.length ? `${queue.length} left.` : "The queue is empty."}`);
  card.hidden ? empty.focus() : card.focus();
}

function openEditor(): void {
  const item = queue[index];
  if (!item) return;
  editText.value = item.captions.join("\n");
  editBox.hidden = false;
  captions.hidden = true;
  editText.focus();
}

function closeEditor(): void {
  editBox.hidden = true;
  captions.hidden = false;
}

function saveEdit(): void {
  const lines = captionLines(editText.value);
  if (lines.length === 0) {
    say("Type at least one caption, or reject the item (r) to drop its captions.");
    return;
  }
  void decide({ action: "edit", captions: lines });
}

const KEYS: Record<string, () => void> = {
  a: () => void decide({ action: "accept" }),
  e: openEditor,
  r: () => void decide({ action: "reject" }),
  j: () => move(1),
  k: () => move(-1),
};

document.addEventListener("keydown", (e) => {
  if (view.hidden || card.hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target as HTMLElement;
  // Letters typed into a field are text, not shortcuts.
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  const action = KEYS[e.key];
  if (!action) return;
  e.preventDefault();
  action();
});

editText.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    saveEdit();
  } else if (e.key === "Escape") {
    e.preventDefault();
    closeEditor();
    card.focus();
  }
});

byId("review-load").addEventListener("click", () => void loadQueue());
datasetSelect.addEventListener("change", () => void loadQueue());
byId("review-accept").addEventListener("click", KEYS.a!);
byId("review-edit-button").addEventListener("click", openEditor);
byId("review-reject").addEventListener("click", KEYS.r!);
byId("review-next").addEventListener("click", KEYS.j!);
byId("review-prev").addEventListener("click", KEYS.k!);
byId("review-save").addEventListener("click", saveEdit);
byId("review-cancel").addEventListener("click", () => {
  closeEditor();
  card.focus();
});
