// The admin console's calls: datasets and items, the review decision, jobs (draft, eval, train,
// cancel, the eval report) and model versions. Every call carries the tab's key (api.ts).
import { call, callBlob, json } from "./api.ts";

export type Split = "train" | "validation" | "test";
export const SPLITS: readonly Split[] = ["train", "validation", "test"];

export interface Dataset {
  name: string;
  createdAt: string;
  items: number;
}

export interface Item {
  id: string;
  split: Split;
  captions: string[];
  reviewed: boolean;
  contentType: string;
  bytes: number;
}

export interface ItemPage {
  items: Item[];
  next: string | null;
}

export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

export interface Job {
  id: string;
  kind: string;
  state: JobState;
  progress: number;
  result?: Record<string, unknown> | null;
  error?: string | null;
  /** What the queue keeps about the progress (done/total; a train job's phase). */
  details?: Record<string, unknown> | null;
  createdAt: string;
}

export type JobKind = "draft" | "eval" | "train";

export interface Version {
  id: string;
  dataset: string;
  createdAt: string;
  serving: boolean;
  validation: { before: Record<string, number>; after: Record<string, number>; trainLoss: number[]; epochs: Record<string, number>[] };
  latency: { candidateMs: number; servingMs: number } | null;
}

export interface Versions {
  model: string;
  serving: string | null;
  versions: Version[];
}

const ds = (name: string) => `v1/datasets/${encodeURIComponent(name)}`;
const itemPath = (name: string, id: string) => `${ds(name)}/items/${encodeURIComponent(id)}`;

/** Any admin route answers 401/403 for a key that is not an admin's: the cheapest one checks the login. */
export const checkAdmin = () => call<{ jobs: Job[] }>("v1/admin/jobs?limit=1");

export const listDatasets = () => call<{ datasets: Dataset[] }>("v1/datasets");
export const createDataset = (name: string) => call<Dataset>("v1/datasets", json("POST", { name }));

export function listItems(name: string, query: { split?: Split; reviewed?: boolean; captioned?: boolean; limit?: number; cursor?: string | null }): Promise<ItemPage> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  return call<ItemPage>(`${ds(name)}/items?${params}`);
}

export const itemImage = (name: string, id: string) => callBlob(`${itemPath(name, id)}/image`, "image/*");

export function addItem(name: string, image: File, captions: string[], split: Split): Promise<Item> {
  const form = new FormData();
  form.append("image", image, image.name);
  for (const caption of captions) form.append("caption", caption);
  form.append("split", split);
  return call<Item>(`${ds(name)}/items`, { method: "POST", body: form });
}

/** Imports a zip of an imagefolder, a parquet file or an exported tar (a job; 202 with it). */
export function importFile(name: string, file: File, split?: Split): Promise<Job> {
  const form = new FormData();
  if (split) form.append("split", split);
  form.append("file", file, file.name);
  return call<Job>(`${ds(name)}/import`, { method: "POST", body: form });
}

/** Imports a dataset repo from the Hugging Face hub, e.g. `Ilia-Iliev/example_captioner` (a job). */
export const importHub = (name: string, hub: string, split?: Split) => call<Job>(`${ds(name)}/import`, json("POST", split ? { hub, split } : { hub }));

export const editCaptions = (name: string, id: string, captions: string[]) => call<Item>(itemPath(name, id), json("PATCH", { captions }));
export const deleteItem = (name: string, id: string) => call<void>(itemPath(name, id), { method: "DELETE" });
export const review = (name: string, id: string, decision: { action: "accept" | "reject" } | { action: "edit"; captions: string[] }) =>
  call<Item>(`${itemPath(name, id)}/review`, json("POST", decision));

export const startJob = (kind: JobKind, body: Record<string, unknown>) => call<Job>(`v1/admin/jobs/${kind}`, json("POST", body));
export const getJob = (id: string) => call<Job>(`v1/jobs/${encodeURIComponent(id)}`);
/** The path of a job's server-sent events (read with events.ts). */
export const jobEvents = (id: string) => `v1/jobs/${encodeURIComponent(id)}/events`;
export const listJobs = (limit = 20) => call<{ jobs: Job[] }>(`v1/admin/jobs?limit=${limit}`);
export const cancelJob = (id: string) => call<Job>(`v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
export const evalReport = (id: string) => callBlob(`v1/admin/jobs/${encodeURIComponent(id)}/report`, "text/html");

export const listVersions = (model: string) => call<Versions>(`v1/admin/models/${encodeURIComponent(model)}/versions`);
export const promote = (model: string, version: string, overrideReason?: string) =>
  call<{ version: Version; previous: string | null; unchanged?: boolean }>(
    `v1/admin/models/${encodeURIComponent(model)}/promote`,
    json("POST", overrideReason ? { version, override_reason: overrideReason } : { version }),
  );

/** Captions typed one per line → the list the API takes (blank lines dropped). */
export const captionLines = (text: string) => text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
