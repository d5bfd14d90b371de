// The models a server serves, by configured name, with their state. Models load at start-up
// (downloading into the HF cache first when allowed) and on an admin reload — never because a user
// asked for one. A reload swaps the new model in and releases the old one once nothing uses it.
import { existsSync } from "node:fs";
import * as path from "node:path";
import { Captioner, type LoadCaptionerOptions } from "../generation/captioner.js";
import { ensureModelFolder, type HubOptions, isRepoId } from "../hub/index.js";
import type { ModelConfig } from "./config.js";

/** `remote`: served by `captioner worker` processes (serve --redis); this process loads nothing. */
export type ModelState = "loading" | "ready" | "failed" | "remote";

export interface ModelStatus {
  name: string;
  source: string;
  revision: string | null;
  state: ModelState;
  /** Why the last load failed (also set when a reload failed while the old model keeps serving). */
  error: string | null;
  /** Seconds the last successful load took (download excluded). */
  loadSeconds: number | null;
  loadedAt: string | null;
  reloading: boolean;
  /** The promoted model version this name serves (null: the configured source). */
  version: string | null;
}

/** A promoted model version: its id and Hugging Face folder. */
export interface ServedVersion {
  id: string;
  folder: string;
}

/** What a caller who may not see the server's files gets instead of a local checkpoint's path. */
export const HIDDEN_FOLDER = "(local folder)";

/**
 * A status without the server's file system: a local checkpoint's path (as the source and inside
 * the error) becomes "(local folder)"; hub repo ids stay. Non-admin callers see this (issue 15).
 */
export function statusWithoutPaths(status: ModelStatus): ModelStatus {
  // The loader's rule (hub/download.ts): an existing path, or anything that is not a repo id, is a folder.
  if (isRepoId(status.source) && !existsSync(status.source)) return status;
  const paths = [path.resolve(status.source), status.source].filter((p) => p !== "");
  const hide = (text: string) => paths.reduce((t, p) => t.split(p).join(HIDDEN_FOLDER), text);
  return { ...status, source: HIDDEN_FOLDER, error: status.error === null ? null : hide(status.error) };
}

export type ModelLoader = (folder: string, opts: LoadCaptionerOptions) => Promise<Captioner>;

export interface RegistryOptions {
  /** May a missing hub model be downloaded? (start-up setting; reloads pass `download` themselves) */
  allowDownloads: boolean;
  threads?: number;
  hub?: HubOptions;
  /** How a folder becomes a Captioner (default `Captioner.load`); tests wrap it to hold a load open. */
  loader?: ModelLoader;
  log?: (message: string) => void;
  /** The models are served by workers over Redis: keep their names only. */
  remote?: boolean;
}

/** No model is configured under this name (HTTP 404). */
export class UnknownModelError extends Error {
  override name = "UnknownModelError";
  constructor(readonly model: string, known: readonly string[]) {
    super(`unknown model "${model}"; this server serves: ${known.join(", ")} (see GET /v1/models)`);
  }
}

/** The model exists but is loading or failed to load (HTTP 503). */
export class ModelNotReadyError extends Error {
  override name = "ModelNotReadyError";
  constructor(readonly model: string, state: ModelState, error: string | null) {
    super(state === "remote" ? `model "${model}" is served by the workers, not this process` : state === "loading" ? `model "${model}" is still loading; retry shortly (GET /readyz says when all models are ready)` : `model "${model}" failed to load: ${error}; an admin can retry with POST /v1/admin/models/${model}/reload`);
  }
}

interface Entry {
  /** The load in flight (first load or reload), so that two never race. */
  loading: Promise<ModelStatus> | null;
  config: ModelConfig;
  status: ModelStatus;
  captioner: Captioner | null;
  /** Calls running on each captioner, so a replaced one is released only when idle. */
  users: Map<Captioner, number>;
  retired: Set<Captioner>;
  /** The promoted version served instead of the configured source (null: the source). */
  version: ServedVersion | null;
}

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  private readonly loadListeners: ((name: string, seconds: number) => void)[] = [];
  private readonly loader: ModelLoader;

  constructor(models: Readonly<Record<string, ModelConfig>>, private readonly opts: RegistryOptions) {
    this.loader = opts.loader ?? ((folder, o) => Captioner.load(folder, o));
    for (const [name, config] of Object.entries(models)) {
      const status: ModelStatus = { name, source: config.source, revision: config.revision ?? null, state: opts.remote ? "remote" : "loading", error: null, loadSeconds: null, loadedAt: null, reloading: false, version: null };
      this.entries.set(name, { loading: null, config, status, captioner: null, users: new Map(), retired: new Set(), version: null });
    }
  }

  /** Configured names, in configuration order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** A copy of every model's status. */
  statuses(): ModelStatus[] {
    return [...this.entries.values()].map((e) => ({ ...e.status }));
  }

  /** True when every configured model is ready (what /readyz reports). */
  allReady(): boolean {
    return [...this.entries.values()].every((e) => e.status.state === "ready" || e.status.state === "remote");
  }

  /** Called with (name, seconds) after every successful load (metrics). */
  onLoad(listener: (name: string, seconds: number) => void): void {
    this.loadListeners.push(listener);
  }

  /** Loads every model one after another (they compete for the same cores); failures are recorded, not thrown. */
  async loadAll(): Promise<void> {
    if (this.opts.remote) return;
    for (const name of this.entries.keys()) {
      await this.load(name, { download: this.opts.allowDownloads }).catch(() => undefined);
    }
  }

  /**
   * Loads (or reloads) one model. `download` allows fetching a hub model missing from the HF cache;
   * `refresh` (admin reload) asks the hub for the revision's current commit even when one is cached.
   */
  async load(name: string, how: { download: boolean; refresh?: boolean }): Promise<ModelStatus> {
    const entry = this.entry(name);
    if (this.opts.remote) throw new Error(`model "${name}" is served by the workers (serve --redis); restart them to reload it`);
    if (this.closed) throw new Error(`the server is stopping; model "${name}" is not loaded`);
    if (entry.loading) throw new Error(`model "${name}" is already being loaded; wait for that load to finish`);
    entry.status.reloading = entry.captioner !== null;
    entry.loading = this.loadEntry(name, entry, how);
    try {
      return await entry.loading;
    } finally {
      entry.loading = null;
      entry.status.reloading = false;
    }
  }

  /**
   * Which version `name` serves from its next load on (start-up: before `loadAll`, from what was
   * promoted earlier). null: the configured source.
   */
  setVersion(name: string, version: ServedVersion | null): void {
    this.entry(name).version = version;
  }

  /**
   * Promotion: loads `version` and swaps it in for `name`, as a reload does (requests in flight
   * finish on the model they started with; none is dropped). On failure the old model keeps serving.
   */
  async serveVersion(name: string, version: ServedVersion | null): Promise<ModelStatus> {
    const entry = this.entry(name);
    const previous = entry.version;
    entry.version = version;
    try {
      return await this.load(name, { download: false });
    } catch (error) {
      entry.version = previous;
      throw error;
    }
  }

  /** The configured source's checkpoint folder of `name` (a hub model from the HF cache; never downloaded here). */
  sourceFolder(name: string): Promise<string> {
    return this.folderOf(this.entry(name).config, false, false);
  }

  /**
   * A captioner of `folder` loaded as `name`'s models are (threads, lowering, quantisation) but not
   * served: for measuring a candidate version against the served one. The caller releases it.
   */
  loadDetached(name: string, folder: string): Promise<Captioner> {
    return this.loader(folder, this.loadOptions(this.entry(name)));
  }

  private loadOptions(entry: Entry): LoadCaptionerOptions {
    const threads = this.opts.threads;
    return { ...(threads ? { threads } : {}), lowering: { fused: true, quantize: entry.config.quantize ?? "none" } };
  }

  private async loadEntry(name: string, entry: Entry, how: { download: boolean; refresh?: boolean }): Promise<ModelStatus> {
    try {
      const version = entry.version;
      const folder = version ? version.folder : await this.folderOf(entry.config, how.download, how.refresh ?? false);
      const started = performance.now();
      const captioner = await this.loader(folder, this.loadOptions(entry));
      const seconds = (performance.now() - started) / 1000;
      if (this.closed) {
        // close() ran while this model was loading: it must not outlive the server.
        await captioner.release();
        throw new Error(`the server stopped while model "${name}" was loading`);
      }
      const previous = entry.captioner;
      entry.captioner = captioner;
      Object.assign(entry.status, { state: "ready", error: null, loadSeconds: seconds, loadedAt: new Date().toISOString(), version: version?.id ?? null });
      if (previous) this.retire(entry, previous);
      this.opts.log?.(`model ${name} ready (${folder}, ${seconds.toFixed(2)} s)`);
      const unused = captioner.model.unusedWeights;
      // A checkpoint with tensors the model never read is usually a mismatched config: say so.
      if (unused.length > 0) this.opts.log?.(`model ${name}: ${unused.length} checkpoint tensors unused (${unused.slice(0, 5).join(", ")}${unused.length > 5 ? ", …" : ""})`);
      for (const listener of this.loadListeners) listener(name, seconds);
      return { ...entry.status };
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      entry.status.error = message;
      if (!entry.captioner) entry.status.state = "failed";
      this.opts.log?.(`model ${name} failed to load: ${message}`);
      throw error;
    }
  }

  /** Runs `fn` with the ready model `name`; throws UnknownModelError / ModelNotReadyError. */
  async use<T>(name: string, fn: (captioner: Captioner) => Promise<T>): Promise<T> {
    const entry = this.entry(name);
    const captioner = entry.captioner;
    if (!captioner) throw new ModelNotReadyError(name, entry.status.state, entry.status.error);
    entry.users.set(captioner, (entry.users.get(captioner) ?? 0) + 1);
    try {
      return await fn(captioner);
    } finally {
      const left = entry.users.get(captioner)! - 1;
      entry.users.set(captioner, left);
      if (left === 0 && entry.retired.has(captioner)) this.retire(entry, captioner);
    }
  }

  /** Throws unless `name` is configured and ready (checked before work is queued). */
  requireReady(name: string): void {
    const entry = this.entry(name);
    if (!entry.captioner) throw new ModelNotReadyError(name, entry.status.state, entry.status.error);
  }

  /** Releases every model (after the server stopped sending work); loads in flight are awaited and dropped. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map((e) => e.loading?.catch(() => undefined)));
    for (const entry of this.entries.values()) {
      const all = [entry.captioner, ...entry.retired].filter((c): c is Captioner => c !== null);
      entry.captioner = null;
      entry.retired.clear();
      await Promise.all(all.map((c) => c.release().catch(() => undefined)));
    }
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) throw new UnknownModelError(name, this.names());
    return entry;
  }

  private retire(entry: Entry, captioner: Captioner): void {
    if ((entry.users.get(captioner) ?? 0) > 0) {
      entry.retired.add(captioner);
      return;
    }
    entry.retired.delete(captioner);
    entry.users.delete(captioner);
    void captioner.release().catch(() => undefined);
  }

  /** A local folder as is; a hub id from the HF cache, or downloaded into it when allowed. */
  private folderOf(config: ModelConfig, download: boolean, refresh: boolean): Promise<string> {
    const onDownload = () => this.opts.log?.(`downloading ${config.source} into the Hugging Face cache`);
    return ensureModelFolder(config.source, { ...this.opts.hub, revision: config.revision, download, refresh, onDownload });
  }
}
