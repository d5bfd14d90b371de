// A tiny element builder: text always goes in as text nodes, never as HTML, so nothing the server
// or a file name says can become markup.

export type Child = Node | string | number | null | undefined | false;

/**
 * `h("li", {class: "tag"}, "dog", h("span", {}, "0.9"))` → `<li class="tag">dog<span>0.9</span></li>`.
 * Attributes set to `true` are present and empty, `false`/`undefined` are left out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** The element with this id, which the page's HTML must have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}
