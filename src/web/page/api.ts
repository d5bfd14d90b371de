// The page's calls to the captioner API. Paths are relative to the page, so it also works behind a
// proxy that mounts the service under a prefix. Every failure becomes an ApiFailure carrying the
// API's `{error: {code, message}}` (or what the network said), for errors.ts to explain.

/** A caption as the API returns it. */
export interface Caption {
  text: string;
  score?: number;
}

/** Issue 12's enrichment fields; any of them may be absent (older server, feature not requested). */
export interface Tag {
  tag: string;
  score?: number;
  source?: string;
}

export interface Color {
  hex: string;
  rgb?: [number, number, number];
  share?: number;
  name?: string;
  family?: string;
}

export interface Colors {
  palette?: Color[];
  foreground?: Color | null;
  background?: Color | null;
  accent?: Color | null;
  grayscale?: boolean;
}

export interface Description {
  style?: string;
  text: string;
  llm?: { used: boolean; model?: string; ms?: number; reason?: string; detail?: string };
}

export interface ImageResult {
  captions: Caption[];
  tags?: Tag[];
  colors?: Colors;
  description?: Description;
}

export interface CaptionResponse {
  model: string;
  results: ImageResult[];
}

export interface ModelStatus {
  name: string;
  source: string;
  state: "loading" | "ready" | "failed" | "remote";
  error?: string | null;
}

export interface ModelsResponse {
  default: string;
  models: ModelStatus[];
}

/** A refused or failed call: the HTTP status (0 when the server was not reached), the API's code and message. */
export class ApiFailure extends Error {
  override name = "ApiFailure";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds from a Retry-After header (503 queue full, model loading). */
    readonly retryAfter: number | null = null,
    /** The whole error body (e.g. the promotion gate's `reasons`). */
    readonly body: unknown = undefined,
  ) {
    super(message);
  }
}

const KEY_ITEM = "captioner.apiKey";

/** The API key pasted into the page, kept for this tab only (sessionStorage). */
export const apiKey = {
  get(): string {
    try {
      return sessionStorage.getItem(KEY_ITEM) ?? "";
    } catch {
      return ""; // storage disabled: the key lives as long as the field's value
    }
  },
  set(key: string): void {
    try {
      if (key.trim()) sessionStorage.setItem(KEY_ITEM, key.trim());
      else sessionStorage.removeItem(KEY_ITEM);
    } catch {
      /* storage disabled */
    }
  },
};

/** Sends a request with the tab's key; any answer but 2xx becomes an ApiFailure. */
export async function send(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("accept")) headers.set("accept", "application/json");
  const key = apiKey.get();
  if (key) headers.set("authorization", `Bearer ${key}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (error) {
    throw new ApiFailure(0, "network_error", `the server could not be reached (${(error as Error).message}); check that it is running`);
  }
  if (!response.ok) {
    const body = parse(await response.text());
    const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const retryAfter = Number(response.headers.get("retry-after") ?? NaN);
    throw new ApiFailure(
      response.status,
      typeof error?.code === "string" ? error.code : `http_${response.status}`,
      typeof error?.message === "string" ? error.message : `HTTP ${response.status} ${response.statusText}`.trim(),
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
      body,
    );
  }
  return response;
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined; // e.g. a proxy's HTML error page
  }
}

/** A JSON call; a 204 answers undefined. */
export async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await send(path, init);
  if (response.status === 204) return undefined as T;
  const body = parse(await response.text());
  if (body === undefined) throw new ApiFailure(response.status, "invalid_response", `${path} did not answer JSON`);
  return body as T;
}

/** A call answering bytes (an item's image, an HTML report), as a Blob. */
export async function callBlob(path: string, accept = "*/*"): Promise<Blob> {
  return (await send(path, { headers: { accept } })).blob();
}

/** A JSON body for POST/PATCH. */
export const json = (method: string, body: unknown): RequestInit => ({ method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** GET /v1/models: the configured models and the default one. */
export const listModels = () => call<ModelsResponse>("v1/models");

/** GET /openapi.json: read by form.ts for the caption route's fields, limits and descriptions. */
export const openapi = () => call<unknown>("openapi.json");

/** POST /v1/captions with a multipart form (field `image`, `model`, one field per option). */
export const caption = (form: FormData) => call<CaptionResponse>("v1/captions", { method: "POST", body: form });
