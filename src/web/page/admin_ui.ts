// What every console view shares: the status line (aria-live), the error alert, and item images,
// which need the key (an <img src> cannot send it), so they are fetched and shown as blob: URLs.
import { itemImage } from "./admin_api.ts";
import { byId, h } from "./dom.ts";
import { errorContent } from "./errors.ts";

const status = byId("status");
const errorBox = byId("error");

/** Says what happened, for everyone (the status line is a polite live region). */
export function say(message: string): void {
  status.textContent = message;
}

export function showError(error: unknown): void {
  errorBox.replaceChildren(errorContent(error));
}

export function clearError(): void {
  errorBox.replaceChildren();
}

/** Runs an action of the console: its error shown in the alert, cleared when the next one works. */
export async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    const result = await action();
    clearError();
    return result;
  } catch (error) {
    showError(error);
    return undefined;
  }
}

const images = new Map<string, Promise<string>>();

/** The blob: URL of an item's image, fetched once per page. */
export function imageUrl(dataset: string, id: string): Promise<string> {
  const key = `${dataset}/${id}`;
  let url = images.get(key);
  if (!url) {
    url = itemImage(dataset, id).then((blob) => URL.createObjectURL(blob));
    url.catch(() => images.delete(key)); // a failed fetch is tried again next time
    images.set(key, url);
  }
  return url;
}

/** An <img> that fills in once its image has arrived; alt says what it shows. */
export function itemImg(dataset: string, id: string, alt: string, size?: number): HTMLImageElement {
  const img = h("img", { alt, width: size, height: size, class: "item-image" });
  imageUrl(dataset, id).then(
    (url) => (img.src = url),
    () => img.classList.add("missing"),
  );
  return img;
}

/** Forgets the cached images (log out). */
export function dropImages(): void {
  for (const url of images.values()) url.then(URL.revokeObjectURL, () => {});
  images.clear();
}

export const when = (iso: string) => new Date(iso).toLocaleString();

/** Replaces a <select>'s options, keeping the chosen value when it is still offered. */
export function fillSelect(select: HTMLSelectElement, values: readonly string[], placeholder?: string): void {
  const previous = select.value;
  select.replaceChildren(...(placeholder !== undefined ? [h("option", { value: "" }, placeholder)] : []), ...values.map((v) => h("option", { value: v }, v)));
  if (values.includes(previous)) select.value = previous;
}
