// Results as DOM: per image its caption(s), then tags, colours and the restyled description when
// the server returned them (issue 12's features). A field that is absent or not in the expected
// shape is simply not shown: an older server, or one without the features, is not an error.
import type { Color, Colors, Description, ImageResult, Tag } from "./api.ts";
import { h } from "./dom.ts";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const isColor = (v: unknown): v is Color => isObject(v) && typeof v.hex === "string" && /^#[0-9a-f]{3,8}$/i.test(v.hex);
const percent = (share: number) => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;

/** One image's results: `file` names it (and gives the thumbnail's object URL). */
export function resultCard(index: number, file: { name: string; url: string }, result: ImageResult): HTMLElement {
  const headingId = `result-${index}`;
  return h(
    "article",
    { class: "result", "aria-labelledby": headingId },
    h("img", { class: "thumb", src: file.url, alt: "", width: 96, height: 96 }),
    h("div", { class: "result-body" }, h("h3", { id: headingId }, file.name), captions(result), tags(result.tags), colors(result.colors), description(result.description)),
  );
}

function captions(result: ImageResult): HTMLElement {
  const list = Array.isArray(result.captions) ? result.captions.filter((c) => typeof c?.text === "string") : [];
  if (list.length === 0) return h("p", { class: "caption-empty" }, "No caption.");
  return h(
    "ol",
    { class: "captions", "aria-label": list.length > 1 ? `${list.length} captions, best first` : "Caption" },
    ...list.map((c) =>
      h(
        "li",
        {},
        h("span", { class: "caption-text" }, c.text),
        typeof c.score === "number" ? h("span", { class: "score" }, ` score ${c.score.toFixed(2)}`) : null,
      ),
    ),
  );
}

function tags(list: Tag[] | undefined): HTMLElement | null {
  const valid = Array.isArray(list) ? list.filter((t) => typeof t?.tag === "string") : [];
  if (valid.length === 0) return null;
  return section(
    "Tags",
    h(
      "ul",
      { class: "tags" },
      ...valid.map((t) =>
        h(
          "li",
          { class: `tag tag-${t.source ?? "other"}` },
          h("span", { class: "tag-name" }, t.tag),
          h("span", { class: "visually-hidden" }, [t.source, typeof t.score === "number" ? `score ${t.score.toFixed(2)}` : ""].filter(Boolean).map((s) => `, ${s}`).join("")),
        ),
      ),
    ),
  );
}

function swatch(color: Color): HTMLElement {
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  el.style.backgroundColor = color.hex; // CSSOM, allowed by the page's CSP (an inline style attribute is not)
  return el;
}

/** "red (#dc1e1e, family red)" as visible text; the swatch itself is decoration. */
function colorLabel(color: Color): HTMLElement {
  return h(
    "span",
    { class: "color" },
    swatch(color),
    h("span", { class: "color-name" }, color.name ?? color.hex),
    " ",
    h("code", {}, color.hex),
    color.family && color.family !== color.name ? h("span", { class: "family" }, ` ${color.family}`) : null,
  );
}

function colors(c: Colors | undefined): HTMLElement | null {
  if (!isObject(c)) return null;
  const palette = Array.isArray(c.palette) ? c.palette.filter(isColor) : [];
  const roles = (["background", "foreground", "accent"] as const).filter((r) => isColor(c[r]));
  if (palette.length === 0 && roles.length === 0) return null;
  return section(
    "Colours",
    palette.length > 0
      ? h(
          "ul",
          { class: "palette", "aria-label": "Palette, largest share first" },
          ...palette.map((p) => h("li", {}, colorLabel(p), typeof p.share === "number" ? h("span", { class: "share" }, percent(p.share)) : null)),
        )
      : null,
    h(
      "dl",
      { class: "roles" },
      ...roles.flatMap((r) => [h("dt", {}, r[0]!.toUpperCase() + r.slice(1)), h("dd", {}, colorLabel(c[r] as Color))]),
      ...(typeof c.grayscale === "boolean" ? [h("dt", {}, "Greyscale"), h("dd", {}, c.grayscale ? "yes" : "no")] : []),
    ),
  );
}

function description(d: Description | undefined): HTMLElement | null {
  if (!isObject(d) || typeof d.text !== "string" || d.text === "") return null;
  const llm = isObject(d.llm) ? d.llm : undefined;
  const how = !llm
    ? null
    : llm.used
      ? `Written by ${llm.model ?? "the LLM"}${typeof llm.ms === "number" ? ` in ${Math.round(llm.ms)} ms` : ""}.`
      : `Written without the LLM${llm.reason ? ` (${llm.reason.replace(/_/g, " ")})` : ""}.`;
  return section(d.style ? `Description (${d.style})` : "Description", h("p", { class: "description" }, d.text), how ? h("p", { class: "note" }, how) : null);
}

function section(title: string, ...content: (HTMLElement | null)[]): HTMLElement {
  return h("div", { class: "feature" }, h("h4", {}, title), ...content);
}
