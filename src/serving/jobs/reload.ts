// Model reload jobs (admin): download when the source is a hub id, load, and swap the model in; the
// old model keeps serving until then (the registry's rule).
import type { ModelRegistry } from "../registry.js";
import type { JobHandlerSpec } from "./handlers.js";
import { RELOAD_JOB } from "./kinds.js";

export function reloadJobs(registry: ModelRegistry): JobHandlerSpec<typeof RELOAD_JOB> {
  return {
    kind: RELOAD_JOB,
    handle: async (job) => {
      const status = await registry.load(job.payload.model, { download: true, refresh: true });
      return { model: status.name, loadSeconds: status.loadSeconds };
    },
  };
}
