// Model versions as eval targets: an eval job whose `model` is a version id evaluates that version
// (loaded as its model name's models are, in this process, for the job's duration); configured
// names go to the served models as before.
import { checkModelOptions } from "../caption_service.js";
import type { ServerLimits } from "../config.js";
import type { ModelRegistry } from "../registry.js";
import { type ModelVersion, VERSION_ID_PATTERN, type VersionStore } from "../versions.js";
import type { EvalTargets } from "./eval.js";

export function withVersions(served: EvalTargets, deps: { versions: VersionStore; registry: ModelRegistry; limits: ServerLimits }): EvalTargets {
  const versionOf = (model: string): ModelVersion | null =>
    !deps.registry.has(model) && new RegExp(VERSION_ID_PATTERN).test(model) ? deps.versions.get(model) : null;
  return {
    check: async (target, options) => {
      const version = versionOf(target.model);
      // A version's options are checked against its model name's (same family, same limits).
      return version ? checkModelOptions(deps.registry, version.model, options, deps.limits) : served.check(target, options);
    },
    open: async (target, ctx) => {
      const version = versionOf(target.model);
      if (!version) return served.open(target, ctx);
      const captioner = await deps.registry.loadDetached(version.model, deps.versions.modelFolder(version.model, version.id));
      return { label: `${version.model} version ${version.id}`, captioner, release: () => captioner.release() };
    },
  };
}
