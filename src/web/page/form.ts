// The caption options form, read from the server's own OpenAPI document: the multipart body of
// POST /v1/captions lists every option with its type, limits (the server's caps) and description,
// so the page never repeats the option table and follows whatever the server accepts (e.g. issue
// 12's `features`, or a description `style`, once that server has them).
import { h } from "./dom.ts";

export interface OptionField {
  key: string;
  kind: "integer" | "number" | "boolean" | "string" | "choice";
  description: string;
  min?: number;
  max?: number;
  /** exclusiveMinimum: the value must be greater (e.g. repetition_penalty > 0). */
  above?: number;
  maxLength?: number;
  choices?: string[];
}

export interface CaptionForm {
  /** The options shown first; the rest go under "More options". */
  primary: OptionField[];
  more: OptionField[];
  /** How to ask for tags, colours and the description; null when this server does not offer them. */
  features: { key: string; values: string[]; repeat: boolean } | null;
}

/** Multipart fields that are not options: the files, the model (its own select), the feature list. */
const NOT_OPTIONS = new Set(["image", "model", "features"]);
const PRIMARY = ["prompt", "num_beams", "num_return_sequences", "max_new_tokens"];
/** What the page asks for when the server has the `features` field (issue 12). */
const WANTED_FEATURES = ["caption", "tags", "colors", "description"];

const LABELS: Record<string, string> = {
  prompt: "Prompt",
  num_beams: "Beams",
  num_return_sequences: "Captions per image",
  max_new_tokens: "Max new tokens",
  min_new_tokens: "Min new tokens",
  max_length: "Max length",
  min_length: "Min length",
  length_penalty: "Length penalty",
  early_stopping: "Early stopping",
  repetition_penalty: "Repetition penalty",
  no_repeat_ngram_size: "No-repeat n-gram size",
  style: "Description style",
};

type Schema = Record<string, unknown>;
const obj = (v: unknown): Schema => (typeof v === "object" && v !== null ? (v as Schema) : {});
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

/** The caption form described by `doc` (the server's /openapi.json). */
export function captionForm(doc: unknown): CaptionForm {
  const body = obj(obj(obj(obj(obj(obj(doc).paths)["/v1/captions"]).post).requestBody).content);
  const properties = obj(obj(obj(body["multipart/form-data"]).schema).properties);
  const fields: OptionField[] = [];
  for (const [key, value] of Object.entries(properties)) {
    if (NOT_OPTIONS.has(key)) continue;
    const field = optionField(key, obj(value));
    if (field) fields.push(field);
  }
  const features = properties.features === undefined ? null : featureRequest(obj(properties.features));
  return {
    primary: PRIMARY.flatMap((k) => fields.filter((f) => f.key === k)),
    more: fields.filter((f) => !PRIMARY.includes(f.key)),
    features,
  };
}

function optionField(key: string, s: Schema): OptionField | null {
  const description = typeof s.description === "string" ? s.description : "";
  const choices = Array.isArray(s.enum) ? s.enum.filter((v): v is string => typeof v === "string") : undefined;
  if (choices?.length) return { key, kind: "choice", description, choices };
  switch (s.type) {
    case "integer":
    case "number":
      return { key, kind: s.type, description, min: num(s.minimum), max: num(s.maximum), above: num(s.exclusiveMinimum) };
    case "boolean":
      return { key, kind: "boolean", description };
    case "string":
      return { key, kind: "string", description, maxLength: num(s.maxLength) };
    default:
      return null; // a field kind this page does not know how to offer: leave it to the server's default
  }
}

/** `features` as a comma list (`caption,tags,…`) or, if the schema says array, one field per feature. */
function featureRequest(s: Schema): CaptionForm["features"] {
  const repeat = s.type === "array";
  const allowed = obj(repeat ? s.items : s).enum;
  const values = Array.isArray(allowed) ? WANTED_FEATURES.filter((f) => allowed.includes(f)) : WANTED_FEATURES;
  return { key: "features", values, repeat };
}

const inputId = (key: string) => `opt-${key}`;
const label = (key: string) => LABELS[key] ?? key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

/** A labelled control for `field`, its description wired as the accessible description. Empty = the server's default. */
export function fieldControl(field: OptionField): HTMLElement {
  const id = inputId(field.key);
  const hintId = `${id}-hint`;
  const common = { id, name: field.key, "aria-describedby": hintId };
  let control: HTMLInputElement | HTMLSelectElement;
  switch (field.kind) {
    case "boolean":
      control = h("select", common, h("option", { value: "" }, "server default"), h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no"));
      break;
    case "choice":
      control = h("select", common, h("option", { value: "" }, "server default"), ...field.choices!.map((c) => h("option", { value: c }, c)));
      break;
    case "integer":
    case "number": {
      const min = field.above ?? field.min;
      control = h("input", {
        ...common,
        type: "number",
        inputmode: field.kind === "integer" ? "numeric" : "decimal",
        min,
        max: field.max,
        step: field.kind === "integer" ? 1 : "any",
        placeholder: "default",
      });
      break;
    }
    case "string":
      control = h("input", { ...common, type: "text", maxlength: field.maxLength, placeholder: "none", autocomplete: "off" });
      break;
  }
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label(field.key)),
    control,
    h("p", { id: hintId, class: "hint" }, h("code", {}, field.key), field.description ? ` — ${field.description}` : ""),
  );
}

/**
 * The option values the user set, as multipart fields; the first invalid control (out of range, a
 * fraction where an integer is due, exactly the `above` bound) is returned instead, with why.
 */
export function readOptions(fields: readonly OptionField[], root: ParentNode): { values: [string, string][] } | { invalid: HTMLElement; why: string } {
  const values: [string, string][] = [];
  for (const field of fields) {
    const control = root.querySelector<HTMLInputElement | HTMLSelectElement>(`#${inputId(field.key)}`);
    if (!control) continue;
    const value = control.value.trim();
    if (control instanceof HTMLInputElement && !control.checkValidity()) return { invalid: control, why: `${label(field.key)}: ${control.validationMessage}` };
    if (value === "") continue;
    if (field.above !== undefined && Number(value) <= field.above) return { invalid: control, why: `${label(field.key)}: must be greater than ${field.above}` };
    values.push([field.key, value]);
  }
  return { values };
}
