// The Datasets view: the list with item counts, create one, and a dataset's items as thumbnails
// with their captions: add (image + captions + split), import (an archive or a hub repo, as a job
// followed until it ends), edit the captions, delete.
import { addItem, captionLines, createDataset, type Dataset, deleteItem, editCaptions, importFile, importHub, type Item, listDatasets, listItems, type Split } from "./admin_api.ts";
import { untilSettled } from "./admin_jobs.ts";
import { attempt, itemImg, say, when } from "./admin_ui.ts";
import { byId, h } from "./dom.ts";

const PAGE = 48;

const rows = byId("dataset-rows");
const detail = byId("dataset-detail");
const title = byId("dataset-title");
const list = byId<HTMLUListElement>("items");
const more = byId<HTMLButtonElement>("more-items");
const splitFilter = byId<HTMLSelectElement>("items-split");
const nameInput = byId<HTMLInputElement>("dataset-name");

let current: string | null = null;
let cursor: string | null = null;

/** Lists the datasets (and reloads the open one's items). */
export async function showDatasets(): Promise<Dataset[]> {
  const answer = await attempt(listDatasets);
  const datasets = answer?.datasets ?? [];
  rows.replaceChildren(
    ...datasets.map((d) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, d.name),
        h("td", { class: "number" }, d.items),
        h("td", {}, when(d.createdAt)),
        h("td", {}, button(`Open ${d.name}`, "Open", () => void openDataset(d.name))),
      ),
    ),
  );
  if (datasets.length === 0) rows.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "placeholder" }, "No datasets yet: create one above.")));
  return datasets;
}

function button(label: string, text: string, onClick: () => void, cls = "secondary"): HTMLButtonElement {
  const b = h("button", { type: "button", class: cls, "aria-label": label }, text);
  b.addEventListener("click", onClick);
  return b;
}

async function openDataset(name: string): Promise<void> {
  current = name;
  detail.hidden = false;
  title.textContent = `Dataset ${name}`;
  await loadItems(true);
  title.focus();
}

async function loadItems(fresh: boolean): Promise<void> {
  if (!current) return;
  if (fresh) {
    cursor = null;
    list.replaceChildren();
  }
  const dataset = current;
  const page = await attempt(() => listItems(dataset, { split: (splitFilter.value || undefined) as Split | undefined, limit: PAGE, cursor }));
  if (!page) return;
  list.append(...page.items.map((item) => itemCard(dataset, item)));
  cursor = page.next;
  more.hidden = cursor === null;
  if (list.childElementCount === 0) list.append(h("li", { class: "placeholder" }, "No items here yet."));
  say(`${dataset}: ${list.querySelectorAll(".item").length} items shown${cursor ? ", more to show" : ""}.`);
}

function itemCard(dataset: string, item: Item): HTMLLIElement {
  const card = h("li", { class: "item", "data-id": item.id });
  const render = (it: Item) => {
    const captions = it.captions.length
      ? h("ul", { class: "item-captions" }, ...it.captions.map((c) => h("li", {}, c)))
      : h("p", { class: "hint" }, "No captions yet.");
    card.replaceChildren(
      itemImg(dataset, it.id, it.captions[0] ?? `item ${it.id}`, 128),
      h("div", { class: "item-body" },
        captions,
        h("p", { class: "hint" }, `${it.split} · ${it.reviewed ? "reviewed" : it.captions.length ? "not reviewed" : "to draft"} · ${it.id}`),
        h("div", { class: "item-actions" },
          button(`Edit the captions of item ${it.id}`, "Edit captions", () => edit(it)),
          button(`Delete item ${it.id}`, "Delete", () => void remove(it))),
      ),
    );
  };
  const edit = (it: Item) => {
    const id = `edit-${it.id}`;
    const area = h("textarea", { id, rows: Math.max(2, it.captions.length + 1), class: "edit-captions" }, it.captions.join("\n"));
    const save = button(`Save the captions of item ${it.id}`, "Save", () => void saveCaptions(it, area.value), "");
    const cancel = button("Cancel editing", "Cancel", () => render(it));
    const body = card.querySelector(".item-body")!;
    body.replaceChildren(h("label", { for: id }, "Captions, one per line"), area, h("div", { class: "item-actions" }, save, cancel));
    area.focus();
  };
  const saveCaptions = async (it: Item, text: string) => {
    const updated = await attempt(() => editCaptions(dataset, it.id, captionLines(text)));
    if (!updated) return;
    render(updated);
    say(`Captions of item ${it.id} saved.`);
    card.querySelector<HTMLButtonElement>("button")?.focus();
  };
  const remove = async (it: Item) => {
    if (!confirm(`Delete item ${it.id} of ${dataset}? Its image goes too.`)) return;
    if ((await attempt(async () => (await deleteItem(dataset, it.id), true))) !== true) return;
    const next = (card.nextElementSibling ?? card.previousElementSibling)?.querySelector("button");
    card.remove();
    say(`Item ${it.id} deleted.`);
    (next ?? title).focus();
    void showDatasets();
  };
  render(item);
  return card;
}

byId<HTMLFormElement>("create-dataset").addEventListener("submit", (e) => {
  e.preventDefault();
  void (async () => {
    const name = nameInput.value.trim();
    if (!nameInput.checkValidity() || !name) {
      nameInput.focus();
      say("A dataset name is 1–64 letters, digits, ., _ or -.");
      return;
    }
    const created = await attempt(() => createDataset(name));
    if (!created) return;
    nameInput.value = "";
    say(`Dataset ${created.name} created.`);
    await showDatasets();
    await openDataset(created.name);
  })();
});

byId<HTMLFormElement>("add-item").addEventListener("submit", (e) => {
  e.preventDefault();
  void (async () => {
    const fileInput = byId<HTMLInputElement>("item-file");
    const file = fileInput.files?.[0];
    if (!current) return;
    if (!file) {
      say("Choose the item's image first.");
      fileInput.focus();
      return;
    }
    const dataset = current;
    const captions = byId<HTMLTextAreaElement>("item-captions");
    const split = byId<HTMLSelectElement>("item-split").value as Split;
    const item = await attempt(() => addItem(dataset, file, captionLines(captions.value), split));
    if (!item) return;
    fileInput.value = "";
    captions.value = "";
    list.querySelector(".placeholder")?.remove();
    if (!splitFilter.value || splitFilter.value === item.split) list.append(itemCard(dataset, item));
    say(`Item ${item.id} added to ${dataset} (${item.split}).`);
    void showDatasets();
  })();
});

byId<HTMLFormElement>("import-form").addEventListener("submit", (e) => {
  e.preventDefault();
  void (async () => {
    const fileInput = byId<HTMLInputElement>("import-file");
    const hubInput = byId<HTMLInputElement>("import-hub");
    const file = fileInput.files?.[0];
    const hub = hubInput.value.trim();
    const split = (byId<HTMLSelectElement>("import-split").value || undefined) as Split | undefined;
    if (!current) return;
    if (!file === !hub) {
      say("Choose a file or name a hub dataset repo (one of the two).");
      (file ? hubInput : fileInput).focus();
      return;
    }
    const dataset = current;
    const job = await attempt(() => (file ? importFile(dataset, file, split) : importHub(dataset, hub, split)));
    if (!job) return;
    fileInput.value = "";
    hubInput.value = "";
    say(`Import job ${job.id} queued for ${dataset}.`);
    const ended = await untilSettled(job.id);
    // The items first: showing them announces their count, and the import's outcome must be what stays said.
    if (current === dataset) await loadItems(true);
    void showDatasets();
    const result = ended.result as { added?: number; skippedCount?: number } | null | undefined;
    say(ended.state === "done"
      ? `Import into ${dataset} done: ${result?.added ?? 0} items added, ${result?.skippedCount ?? 0} skipped.`
      : `Import job ${ended.id} ${ended.state}${ended.error ? `: ${ended.error}` : ""}.`);
  })();
});

splitFilter.addEventListener("change", () => void loadItems(true));
more.addEventListener("click", () => void loadItems(false));
